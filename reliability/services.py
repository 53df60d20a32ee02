"""Throwaway services on spare loopback ports: PostgreSQL, Redis, the Daraja simulator and
a ``gamehub serve`` with several workers. Each can be stopped, killed and started again
without touching the machine's shared servers."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from gamehub.settings import RATE_LIMIT_DEFAULTS

BIN = Path(sys.executable).parent
GAMEHUB = str(BIN / "gamehub")


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, ready: Callable[[], bool], seconds: float = 30.0) -> float:
    """Poll ``ready`` until it is true; returns how long that took."""
    start = time.monotonic()
    while not ready():
        if time.monotonic() - start > seconds:
            raise RuntimeError(f"{what} was not ready within {seconds:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Postgres:
    """A cluster of its own in a temporary directory (PostgreSQL refuses to run as root, so
    it runs as the ``postgres`` user when we are root).

    With ``standby_of``, a streaming replica of that (running) primary instead: a base
    backup with ``-R`` writes the connection to the primary and the standby signal, so
    that it starts as a hot standby replaying what the primary streams. initdb's
    ``--auth=trust`` already lets 127.0.0.1 connect for replication, and the default
    ``wal_level`` (replica) is what streaming needs; both are named below all the same,
    so that a changed default cannot quietly break the replica's tests."""

    def __init__(self, root: Path, *, standby_of: Postgres | None = None) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries: apt-get install postgresql")
        self.bin = Path(found[-1]).parent
        self.port = spare_port()
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/gamehub"
        self._as_owner: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        if standby_of is not None:
            self._run(
                str(self.bin / "pg_basebackup"),
                *("-h", "127.0.0.1", "-p", str(standby_of.port), "-U", "postgres"),
                *("-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast"),
            )
            return
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_owner, *command], check=True, capture_output=True)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200 "
            "-c wal_level=replica -c max_wal_senders=5"
        )
        pg_ctl = str(self.bin / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        createdb = str(self.bin / "createdb")
        self._run(createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "gamehub")


class PgBouncer:
    """Debian's PgBouncer in transaction pooling in front of a PostgreSQL, every database
    passed through (``* =``), trusting the users of ``users``: for tests only."""

    def __init__(
        self,
        root: Path,
        upstream_port: int,
        *,
        pool_size: int = 20,
        users: tuple[str, ...] = ("postgres",),
    ) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError("no pgbouncer: apt-get install pgbouncer")
        self.binary = binary
        self.port = spare_port()
        self.root = root
        self.log = root / "pgbouncer.log"
        self.config = root / "pgbouncer.ini"
        userlist = root / "userlist.txt"
        userlist.write_text("".join(f'"{user}" ""\n' for user in users))
        self.config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={upstream_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            # No Unix socket: /tmp/.s.PGSQL.<port> could belong to someone else's server.
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {userlist}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 1000\n"
            # A client waits this long for a server connection, then is refused: as the
            # app's own pool_timeout, a 503 rather than a request held for minutes.
            "query_wait_timeout = 10\n"
            f"logfile = {self.log}\n"
            f"pidfile = {root / 'pgbouncer.pid'}\n"
        )
        # PgBouncer refuses to run as root.
        self._as_owner: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            for path in (root, userlist, self.config):
                shutil.chown(path, "postgres")
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: str, user: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` through this PgBouncer."""
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}?pgbouncer=true"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [*self._as_owner, self.binary, str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until("PgBouncer", lambda: self._started())

    def _started(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pgbouncer exited with {self._process.returncode}:\n{log}")
        return _accepts(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class Redis:
    def __init__(self) -> None:
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        wait_until("Redis", lambda: _accepts(self.port))

    @property
    def running(self) -> bool:
        return self._process is not None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


class Simulator:
    def __init__(self, root: Path) -> None:
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys_dir = root / "mpesa-sim"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [GAMEHUB, "mpesa-sim", "--port", str(self.port), "--keys-dir", str(self.keys_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # The simulator's server runs in a child process: kill them together.
            start_new_session=True,
        )
        wait_until("the M-Pesa simulator", lambda: _accepts(self.port))

    def kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)
            self._process = None

    @property
    def certificate(self) -> Path:
        return self.keys_dir / "simulator-cert.pem"


class Server:
    """``gamehub serve --workers N`` in a process group of its own."""

    def __init__(self, root: Path, env: dict[str, str], workers: int) -> None:
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.workers = workers
        self.log = root / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [GAMEHUB, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until("the API", self.healthy, seconds=60)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def healthy(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"the API exited; see {self.log}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_pids(self, tries: int = 40) -> set[int]:
        """The workers answering /health, each asked on a new connection."""
        pids: set[int] = set()
        for _ in range(tries):
            try:
                answer = httpx.get(f"{self.url}/health", timeout=1)
                pids.add(int(answer.json()["worker"]))
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if len(pids) >= self.workers:
                break
        return pids

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        except ProcessLookupError:
            pass
        self._process = None


class Stack:
    """PostgreSQL, Redis, the simulator and the API, wired together."""

    def __init__(self, workers: int = 2) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gamehub-reliability-"))
        os.chmod(self.root, 0o755)
        (self.root / "pg").mkdir()
        self.postgres = Postgres(self.root / "pg")
        self.redis = Redis()
        self.simulator = Simulator(self.root)
        env = {
            "GAMEHUB_ENVIRONMENT": "production",
            "GAMEHUB_DATABASE_URL": self.postgres.url,
            "GAMEHUB_REDIS_URL": self.redis.url,
            "GAMEHUB_JWT_SECRET": secrets.token_urlsafe(48),
            "GAMEHUB_MPESA_CALLBACK_SECRET": secrets.token_urlsafe(48),
            "GAMEHUB_MPESA_BASE_URL": self.simulator.url,
            "GAMEHUB_MPESA_CERTIFICATE_PATH": str(self.simulator.certificate),
            # Unanswered payments are asked about quickly, so that a run can wait for them.
            "GAMEHUB_MPESA_RECONCILE_AFTER_SECONDS": "5",
            "GAMEHUB_MPESA_RECONCILE_INTERVAL_SECONDS": "2",
            # A push the restarted simulator forgot ends as expired within the settle time.
            "GAMEHUB_MPESA_DEPOSIT_EXPIRE_AFTER_SECONDS": "30",
            "GAMEHUB_ROULETTE_TURN_SECONDS": "5",
            # Rooms the load walked away from (a phase ends mid-game) are cancelled and
            # refunded within the settle time.
            "GAMEHUB_ROULETTE_WAITING_ROOM_SECONDS": "30",
            # The load logs in 32 players from one address, each with a phone of their own, who
            # play flat out: no limit of theirs may refuse it.
            "GAMEHUB_IP_FAILURE_LIMIT": "100000",
            "GAMEHUB_RATE_LIMITS": ",".join(f"{n}=100000/second" for n in RATE_LIMIT_DEFAULTS),
            "GAMEHUB_ARGON2_TIME_COST": "1",
            "GAMEHUB_ARGON2_MEMORY_KIB": "1024",
            "GAMEHUB_ARGON2_PARALLELISM": "1",
        }
        self.server = Server(self.root, env, workers)
        env["GAMEHUB_MPESA_CALLBACK_BASE_URL"] = self.server.url

    def start(self) -> None:
        self.postgres.start()
        self.postgres.create_database()
        self.redis.start()
        self.simulator.start()
        subprocess.run(
            [GAMEHUB, "db", "upgrade"], env={**os.environ, **self.server.env}, check=True
        )
        self.server.start()

    def gamehub(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GAMEHUB, *arguments],
            env={**os.environ, **self.server.env},
            capture_output=True,
            text=True,
        )

    def stop(self, keep_log_in: Path | None = None) -> None:
        if keep_log_in is not None and self.server.log.exists():
            keep_log_in.mkdir(exist_ok=True)
            shutil.copy(self.server.log, keep_log_in / "server.log")
        for stop in (self.server.stop, self.simulator.kill, self.redis.stop):
            try:
                stop()
            except Exception as exc:  # tear everything down regardless
                print(f"reliability: cleanup: {exc}", file=sys.stderr)
        with contextlib.suppress(subprocess.CalledProcessError):
            self.postgres.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` primaries (no replicas) on spare ports,
    joined by ``redis-cli --cluster create``: the smallest cluster Redis accepts, enough to
    spread keys over several nodes so that a command on keys of different slots fails."""

    NODES = 3

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gamehub-redis-cluster-"))
        self.ports: list[int] = []
        while len(self.ports) < self.NODES:
            # Each node also listens on its port + 10000 (the cluster bus).
            port = spare_port()
            if port + 10000 <= 65535 and _free(port + 10000) and port not in self.ports:
                self.ports.append(port)
        self.url = f"redis+cluster://127.0.0.1:{self.ports[0]}"
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for port in self.ports:
            node = self.root / str(port)
            node.mkdir()
            self._processes.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", str(node / "nodes.conf"),
                        "--dir", str(node),
                        "--save", "",
                        "--appendonly", "no",
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in self.ports:
            wait_until("a Redis Cluster node", lambda port=port: _accepts(port))
        subprocess.run(
            [
                "redis-cli", "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        wait_until("the Redis Cluster", self._ok)

    def _ok(self) -> bool:
        for port in self.ports:
            info = subprocess.run(
                ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True
            )
            if "cluster_state:ok" not in info.stdout:
                return False
        return True

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.wait(timeout=10)
        self._processes = []
        shutil.rmtree(self.root, ignore_errors=True)

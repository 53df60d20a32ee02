"""The harness: the load generators (wrk, pgbench, the hashing ceiling), the servers
it measures (Game Hub and the hello), its users and rooms, and the interleaved rounds
of a scenario against its baseline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import redis

from bench import flows, procs
from bench.flows import User
from bench.measure import (
    Row,
    Sample,
    Summary,
    Target,
    parse_pgbench_failures,
    parse_pgbench_log,
    parse_wrk,
    wrk_sample,
)
from gamehub.settings import RATE_LIMIT_DEFAULTS, Settings

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LUA = HERE / "wrk" / "requests.lua"
BET_SQL = HERE / "bet.sql"
GAMEHUB = procs.BIN / "gamehub"

PLAYERS = 32
PUNTERS = 32
FUNDS_MINOR = 25_000_000
PGBENCH_WALLETS = 1000
SPIN_STAKE = 10
SIDE_BET = 10
# Distinct from each other, so that the place-bet rooms and the games never share a lobby.
ROULETTE_STAKE = Decimal(10)
ROOM_STAKE = Decimal(20)


@dataclass(frozen=True)
class Config:
    postgres: str
    database: str
    redis_url: str
    rounds: int
    seconds: float
    warmup: float
    connections: int
    workers: int
    only: frozenset[str] | None

    @property
    def dsn(self) -> str:
        return f"{self.postgres}/{self.database}"

    @property
    def database_url(self) -> str:
        return "postgresql+asyncpg://" + self.dsn.split("://", 1)[1]

    def wants(self, name: str) -> bool:
        return self.only is None or name in self.only


# Load: one round of something measured, for a number of seconds.
Load = Callable[[float], Sample]


@dataclass
class Bench:
    config: Config
    scratch: Path
    run_id: str
    server: procs.Server | None = None
    sim_port: int = 0
    punters: list[User] | None = None
    players: list[User] | None = None
    rooms: list[int] | None = None
    settings: Settings | None = None

    # -- generators -------------------------------------------------------------------

    def wrk(
        self,
        server: procs.Server,
        lines: list[str],
        mode: str = "static",
        connections: int | None = None,
    ) -> Load:
        requests = self.scratch / f"requests-{uuid.uuid4().hex[:8]}.tsv"
        requests.write_text("\n".join(lines) + "\n")
        conns = connections or self.config.connections
        threads = min(2, conns)

        def run(seconds: float) -> Sample:
            # Unique per round, so that no Idempotency-Key or username repeats.
            tag = uuid.uuid4().hex[:8]
            command = [
                "wrk",
                f"-t{threads}",
                f"-c{conns}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(LUA),
                server.url,
                "--",
                str(requests),
                mode,
                tag,
                str(threads),
            ]
            before = server.cpu_seconds()
            output, generator_cpu = procs.run_measured(command, timeout=seconds + 60)
            server_cpu = server.cpu_seconds() - before
            return wrk_sample(parse_wrk(output), server_cpu, generator_cpu)

        return run

    def pgbench(self) -> Load:
        def run(seconds: float) -> Sample:
            logs = self.scratch / f"pgbench-{uuid.uuid4().hex[:8]}"
            logs.mkdir()
            host, port = _host_port(self.config.postgres)
            command = [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-h",
                host,
                "-p",
                port,
                "-U",
                _user(self.config.postgres),
                "-c",
                str(self.config.connections),
                "-j",
                "2",
                "-T",
                str(max(1, round(seconds))),
                "-f",
                str(BET_SQL),
                "-D",
                f"wallets={PGBENCH_WALLETS}",
                "-D",
                f"house={PGBENCH_WALLETS + 1}",
                "-l",
                f"--log-prefix={logs}/log",
                self.config.database,
            ]
            for tries_left in (2, 1, 0):
                try:
                    output, generator_cpu = procs.run_measured(command, timeout=seconds + 60)
                    break
                except RuntimeError as exc:
                    # The PostgreSQL server is shared: wait for connections to free up.
                    if tries_left == 0 or "too many clients" not in str(exc):
                        raise
                    time.sleep(3)
            lines = [line for f in logs.iterdir() for line in f.read_text().splitlines()]
            latencies = parse_pgbench_log(lines)
            return Sample(
                count=len(latencies),
                seconds=max(1, round(seconds)),
                p50_ms=_pct(latencies, 50),
                p99_ms=_pct(latencies, 99),
                errors=parse_pgbench_failures(output),
                generator_cpu_s=generator_cpu,
            )

        return run

    def hashing(self) -> Load:
        settings = self._settings()
        params = (
            settings.argon2_time_cost,
            settings.argon2_memory_kib,
            settings.argon2_parallelism,
        )
        cores = os.cpu_count() or 1

        def run(seconds: float) -> Sample:
            context = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(cores, mp_context=context) as pool:
                counts = list(pool.map(_hash_for, [seconds] * cores, [params] * cores))
            return Sample(count=sum(counts), seconds=seconds)

        return run

    def _settings(self) -> Settings:
        if self.settings is None:
            # What the server reads: the environment, and no .env file, since it runs in
            # the scratch directory.
            with contextlib.chdir(self.scratch):
                self.settings = Settings()
        return self.settings

    # -- the Game Hub server ------------------------------------------------------------

    @contextlib.contextmanager
    def gamehub(self) -> Iterator[procs.Server]:
        port, self.sim_port = procs.free_port(), procs.free_port()
        prefix = f"gamehub-bench:{self.run_id}:"
        env = {
            "GAMEHUB_DATABASE_URL": self.config.database_url,
            "GAMEHUB_REDIS_URL": self.config.redis_url,
            "GAMEHUB_REDIS_PREFIX": prefix,
            # Tokens outlive the whole run.
            "GAMEHUB_ACCESS_TOKEN_TTL_SECONDS": "86400",
            # The place-bet rooms stay open (nobody pulls) for the whole run.
            "GAMEHUB_ROULETTE_TURN_SECONDS": "86400",
            "GAMEHUB_ROULETTE_WAITING_ROOM_SECONDS": "86400",
            # The simulator answers at once: the round measures us, not its delay.
            "GAMEHUB_MPESA_SIM_CALLBACK_DELAY_SECONDS": "0",
            # Every limit is still counted (its cost is part of what is measured) but none
            # is reached: the load is a few players on one address playing flat out.
            "GAMEHUB_RATE_LIMITS": ",".join(f"{n}=100000/second" for n in RATE_LIMIT_DEFAULTS),
            # Logs as a deployment writes them (the default outside development), not the
            # console lines meant for a person at a terminal.
            "GAMEHUB_LOG_FORMAT": "json",
        }
        command = [
            str(GAMEHUB),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(self.config.workers),
            "--with-mpesa-sim",
            str(self.sim_port),
        ]
        try:
            with procs.serve(
                "gamehub",
                command,
                port,
                env,
                self.scratch,
                RESULTS / f"{self.run_id}-server.log",
                "/health",
                skip=lambda cmdline: "mpesa-sim" in cmdline.split(),
            ) as server:
                self.server = server
                yield server
        finally:
            self.server = None
            _delete_keys(self.config.redis_url, prefix)

    @contextlib.contextmanager
    def hello(self) -> Iterator[procs.Server]:
        port = procs.free_port()
        command = [
            sys.executable,
            "-m",
            "bench.hello",
            "--port",
            str(port),
            "--workers",
            str(self.config.workers),
        ]
        env = {"PYTHONPATH": str(HERE.parent)}
        log = RESULTS / f"{self.run_id}-hello.log"
        with procs.serve("hello", command, port, env, self.scratch, log, "/hello") as server:
            yield server

    def populate(self, server: procs.Server) -> None:
        names = [f"bench_p{i}" for i in range(PLAYERS)] + [f"bench_u{i}" for i in range(PUNTERS)]
        print(f"registering and funding {len(names)} users ...", flush=True)
        users = asyncio.run(flows.register_users(server.port, names, self.config.connections))
        asyncio.run(
            flows.fund(self.config.database_url, names, FUNDS_MINOR, self._settings().currency)
        )
        self.players = [users[n] for n in names[:PLAYERS]]
        self.punters = [users[n] for n in names[PLAYERS:]]
        pairs = list(zip(self.players[0::2], self.players[1::2], strict=True))
        self.rooms = asyncio.run(flows.open_rooms(server.port, pairs, ROOM_STAKE))

    def quiesce(self) -> None:
        """Every round starts on an idle server."""
        if self.server is not None:
            self.server.wait_idle()

    # -- scenarios --------------------------------------------------------------------

    def compare(
        self,
        name: str,
        unit: str,
        baseline_name: str,
        baseline: Load | None,
        scenario: Load,
        target: Target,
    ) -> Row:
        """Rounds of A then B, after an unmeasured warm-up of B."""
        print(f"== {name} ({self.config.rounds} x {self.config.seconds:g} s)", flush=True)
        failures: list[str] = []

        def attempt(load: Load, seconds: float) -> Sample:
            # A round that fails (the shared PostgreSQL out of connections, say) is one
            # error in its row, not the end of the whole run's table.
            try:
                return load(seconds)
            except Exception as exc:
                traceback.print_exc()
                failures.append(f"{type(exc).__name__}: {str(exc)[-300:]}")
                return Sample(0, seconds, errors=1)

        if self.config.warmup > 0:
            attempt(scenario, self.config.warmup)
            failures.clear()
        a: list[Sample] = []
        b: list[Sample] = []
        for _ in range(self.config.rounds):
            if baseline is not None:
                self.quiesce()
                a.append(attempt(baseline, self.config.seconds))
            self.quiesce()
            b.append(attempt(scenario, self.config.seconds))
            line = f"   {unit} {b[-1].rate:9.1f}"
            if a:
                line += f"   {baseline_name} {a[-1].rate:9.1f}"
            print(line, flush=True)
        return Row(
            name,
            unit,
            baseline_name,
            Summary.of(b),
            Summary.of(a) if a else None,
            target,
            samples=b,
            baseline_samples=a,
            extra={"failures": failures} if failures else {},
        )


def line(method: str, path: str, token: str | None = None, body: str | None = None) -> str:
    return "\t".join([method, path, token or "-", body or "-"])


def _pct(values: list[float], p: float) -> float | None:
    from bench.measure import percentile

    return percentile(values, p) if values else None


def _host_port(postgres: str) -> tuple[str, str]:
    location = postgres.split("@", 1)[-1].split("://", 1)[-1]
    host, _, port = location.partition(":")
    return host, port or "5432"


def _user(postgres: str) -> str:
    rest = postgres.split("://", 1)[1]
    return rest.split("@", 1)[0].split(":", 1)[0] if "@" in rest else "postgres"


def _hash_for(seconds: float, params: tuple[int, int, int]) -> int:
    """Hash for ``seconds`` at the server's parameters; how many hashes it made."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=params[0], memory_cost=params[1], parallelism=params[2])
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.hash("a bench password")
        count += 1
    return count


def _delete_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        for first in range(0, len(keys), 1000):
            client.delete(*keys[first : first + 1000])
    finally:
        client.close()

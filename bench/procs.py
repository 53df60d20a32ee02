"""The processes a bench run needs: its tools, its database, the servers it measures,
and the CPU time their workers spend."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Debian's packages: wrk, and pgbench (in postgresql-contrib's client, already present
# wherever psql is installed from postgresql-client).
TOOLS = {"wrk": "wrk", "pgbench": "postgresql-client"}


def ensure_tools() -> None:
    """Install wrk and pgbench from Debian's packages when missing (needs root)."""
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise SystemExit(f"bench needs {', '.join(missing)}; install them (no apt-get here)")
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def recreate_database(server_dsn: str, name: str) -> None:
    """Drop and create ``name`` on the PostgreSQL server at ``server_dsn``."""
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"database name {name!r}: letters, digits and '_' only")
    connection = await asyncpg.connect(f"{server_dsn}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def _children(pid: int) -> list[int]:
    # Listed per thread: granian starts its workers from a thread of its own.
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return children


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int, skip: Callable[[str], bool] = lambda _: False) -> float:
    """CPU time (user + system) of ``pid`` and its descendants, leaving out any
    subtree whose command line ``skip`` rejects."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        if skip(_cmdline(current)):
            continue
        total += _cpu_seconds(current)
        pending.extend(_children(current))
    return total


@dataclass
class Server:
    """A server we started, in its own process group, with the CPU meter of its workers."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    skip: Callable[[str], bool]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid, self.skip)

    def wait_idle(self, busy_cores: float = 0.1, timeout: float = 60.0) -> float:
        """Wait until the workers use less than ``busy_cores`` of CPU (a load's work can
        outlive its generator: a login whose client has gone still hashes); returns the
        seconds waited."""
        started = time.monotonic()
        window = 0.3
        while time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(window)
            if self.cpu_seconds() - before < busy_cores * window:
                break
        return time.monotonic() - started


@contextlib.contextmanager
def serve(
    name: str,
    command: list[str],
    port: int,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    ready_path: str,
    skip: Callable[[str], bool] = lambda _: False,
) -> Iterator[Server]:
    """Start ``command``, wait until GET ``ready_path`` answers 200, and stop the whole
    process group afterwards."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {log}")
            time.sleep(0.2)
        yield Server(name, process, port, skip)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def run_measured(command: list[str], timeout: float) -> tuple[str, float]:
    """Run a load generator to its end; its output and the CPU seconds it used (from
    its own rusage, so that concurrent generators are told apart)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    killer = threading.Timer(timeout, os.killpg, (process.pid, signal.SIGKILL))
    killer.start()
    try:
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        # Reaped here rather than by Popen, for the rusage only wait4 reports.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        killer.cancel()
        if process.stdout is not None:
            process.stdout.close()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}:\n{output}")
    return output, usage.ru_utime + usage.ru_stime

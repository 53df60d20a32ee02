"""Run ``gamehub serve`` as a real server process for tests that need several workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from gamehub.settings import RATE_LIMIT_DEFAULTS

GAMEHUB = Path(sys.executable).parent / "gamehub"
# The suites register, log in, deposit and play many times from one address and phone;
# a test of a rate limit sets the limits it checks, and the others stay out of its way.
GENEROUS_RATE_LIMITS = {name: "10000/second" for name in RATE_LIMIT_DEFAULTS}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@contextmanager
def running_server(
    env: dict[str, str],
    workers: int = 2,
    port: int | None = None,
    *,
    options: Sequence[str] = (),
    cwd: Path | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """``log_path``: where the server's output goes, for a test that reads it."""
    with serving(env, workers, port, options=options, cwd=cwd, log_path=log_path) as server:
        yield server.base_url


@contextmanager
def serving(
    env: dict[str, str],
    workers: int = 2,
    port: int | None = None,
    *,
    options: Sequence[str] = (),
    cwd: Path | None = None,
    own_session: bool = False,
    log_path: Path | None = None,
) -> Iterator[Server]:
    """:func:`running_server` with its process, for tests that signal it themselves;
    ``own_session`` puts it in a process group of its own, as a terminal's job is, so
    that a test can send the group a Ctrl-C."""
    port = port or free_port()
    if log_path is not None:
        with log_path.open("w+b") as log:
            yield from _serve(env, workers, port, options, cwd, log, own_session)
        return
    # A file rather than a pipe nobody reads: a chatty server must not block on a full pipe.
    with tempfile.TemporaryFile() as log:
        yield from _serve(env, workers, port, options, cwd, log, own_session)


def _serve(
    env: dict[str, str],
    workers: int,
    port: int,
    options: Sequence[str],
    cwd: Path | None,
    log: IO[bytes],
    own_session: bool,
) -> Iterator[Server]:
    process = subprocess.Popen(
        [str(GAMEHUB), "serve", "--port", str(port), "--workers", str(workers), *options],
        env={
            **os.environ,
            "GAMEHUB_RATE_LIMITS": ",".join(f"{k}={v}" for k, v in GENEROUS_RATE_LIMITS.items()),
            **env,
        },
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        # A cold start on a loaded machine imports the app twice with the simulator.
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise AssertionError(f"server exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise AssertionError(f"server did not become healthy within 120 s:\n{output}")
            time.sleep(0.1)
        yield Server(base_url, process, log)
    finally:
        if own_session:
            # The simulator too, if the test left it behind.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""Run ``gamehub serve`` as a real server process for tests that need several workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def running_server(
    env: dict[str, str],
    workers: int = 2,
    port: int | None = None,
    *,
    options: Sequence[str] = (),
    cwd: Path | None = None,
) -> Iterator[str]:
    port = port or free_port()
    # A file rather than a pipe nobody reads: a chatty server must not block on a full pipe.
    with tempfile.TemporaryFile() as log:
        yield from _serve(env, workers, port, options, cwd, log)


def _serve(
    env: dict[str, str],
    workers: int,
    port: int,
    options: Sequence[str],
    cwd: Path | None,
    log: IO[bytes],
) -> Iterator[str]:
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
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
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
                raise AssertionError("server did not become healthy within 30 s")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

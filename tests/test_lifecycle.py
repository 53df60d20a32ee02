"""``gamehub serve`` starts in order and stops cleanly (docs/lifecycle.md).

On SIGTERM (a deploy) or Ctrl-C (SIGINT to the terminal's whole process group) open
event streams end with a ``retry:`` hint, requests in flight finish, and the process
exits within 5 s; with ``--with-mpesa-sim`` the simulator is listening before the API
answers its first request, and goes down with it.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import ADULT_DOB, PASSWORD, unique_name
from tests.support.server import Server, free_port, serving
from tests.support.sse import SseEvent, SseParser

# The bound the issue names: a deploy or a Ctrl-C must not wait longer than this.
EXIT_WITHIN_SECONDS = 5.0
WAIT_SECONDS = 20.0
PHONE = "254708374149"


def _env(database_url: str, redis_url: str | None = None) -> dict[str, str]:
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_JWT_SECRET": "lifecycle-test-secret-" + "z" * 32,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('life')}:",
        "GAMEHUB_ARGON2_TIME_COST": "1",
        "GAMEHUB_ARGON2_MEMORY_KIB": "64",
        "GAMEHUB_ARGON2_PARALLELISM": "1",
    }
    if redis_url is not None:
        env["GAMEHUB_REDIS_URL"] = redis_url
    return env


class HeldGateway:
    """Daraja as the API sees it: the simulator behind a proxy that holds each STK push
    until the test releases it, so that the test knows a deposit is in flight."""

    def __init__(self, upstream: str) -> None:
        self.pushed = threading.Event()
        self.release = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "stkpush" in self.path:
                    gateway.pushed.set()
                    gateway.release.wait(WAIT_SECONDS)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization",)}
                headers["Content-Type"] = self.headers.get("Content-Type", "application/json")
                answer = httpx.request(
                    self.command, upstream + self.path, headers=headers, content=body
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward  # noqa: N815 - the names http.server calls

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sim_port() -> int:
    return free_port()


@pytest.fixture
def gateway(sim_port: int) -> Iterator[HeldGateway]:
    held = HeldGateway(f"http://127.0.0.1:{sim_port}")
    yield held
    held.close()


class Listener:
    """One event stream read in a thread, as a browser's EventSource would hold it."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.events: list[SseEvent] = []
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._read, args=(base_url, headers), daemon=True)
        self._thread.start()

    def _read(self, base_url: str, headers: dict[str, str]) -> None:
        parser = SseParser()
        try:
            with httpx.stream("GET", f"{base_url}/events", headers=headers, timeout=None) as r:
                for chunk in r.iter_text():
                    for event in parser.feed(chunk):
                        self.events.append(event)
                        if event.event == "connected":
                            self.connected.set()
        except Exception as exc:  # the response cut off rather than ended
            self.error = exc
        finally:
            self.ended.set()


def _player(base_url: str) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/register",
        json={"username": unique_name(), "password": PASSWORD, "dob": ADULT_DOB},
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _deposit(base_url: str, headers: dict[str, str], into: list[httpx.Response]) -> None:
    into.append(
        httpx.post(
            f"{base_url}/deposit",
            headers=headers,
            json={"amount": 100, "phone": PHONE},
            timeout=WAIT_SECONDS,
        )
    )


def _exit_seconds(server: Server, started: float) -> float:
    server.process.wait(WAIT_SECONDS)
    return time.monotonic() - started


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_sigterm_ends_the_streams_lets_a_deposit_finish_and_exits_within_5_s(
    database_url: str,
    redis_url: str | None,
    tmp_path: Path,
    sim_port: int,
    gateway: HeldGateway,
) -> None:
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: several workers require Redis")
    # The API reaches the simulator through the gateway that holds the push.
    env = {**_env(database_url, redis_url), "GAMEHUB_MPESA_BASE_URL": gateway.url}
    options = ["--with-mpesa-sim", str(sim_port)]
    with serving(env, workers=2, options=options, cwd=tmp_path) as server:
        headers = _player(server.base_url)
        listeners = [Listener(server.base_url, headers) for _ in range(4)]
        for listener in listeners:
            assert listener.connected.wait(WAIT_SECONDS), listener.error
        answers: list[httpx.Response] = []
        deposit = threading.Thread(target=_deposit, args=(server.base_url, headers, answers))
        deposit.start()
        assert gateway.pushed.wait(WAIT_SECONDS)

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # The provider answers after the signal: the deposit was in flight throughout.
        gateway.release.set()
        assert _exit_seconds(server, started) < EXIT_WITHIN_SECONDS, server.output()

        assert server.process.returncode == 0, server.output()
        deposit.join(WAIT_SECONDS)
        assert [a.status_code for a in answers] == [202], server.output()
        for listener in listeners:
            assert listener.ended.wait(WAIT_SECONDS)
            # Ended by the server, cleanly, with the hint as its last message.
            assert listener.error is None
            last = listener.events[-1]
            assert (last.event, last.data, last.retry is not None) == (None, "", True)
        assert not _accepts(sim_port)


def test_with_the_simulator_the_first_deposit_is_served_and_ctrl_c_stops_it_all(
    database_url: str, tmp_path: Path, sim_port: int
) -> None:
    options = ["--with-mpesa-sim", str(sim_port)]
    with serving(
        _env(database_url), workers=1, options=options, cwd=tmp_path, own_session=True
    ) as server:
        # The API reports ready (/health) only once the simulator listens: the first
        # deposit is accepted, not a 503 for a provider not yet up.
        headers = _player(server.base_url)
        answers: list[httpx.Response] = []
        _deposit(server.base_url, headers, answers)
        assert answers[0].status_code == 202, answers[0].text
        listener = Listener(server.base_url, headers)
        assert listener.connected.wait(WAIT_SECONDS)

        started = time.monotonic()
        # What a terminal's Ctrl-C does: SIGINT to every process of the job.
        os.killpg(server.process.pid, signal.SIGINT)
        assert _exit_seconds(server, started) < EXIT_WITHIN_SECONDS, server.output()
        assert listener.ended.wait(WAIT_SECONDS)
        assert listener.events[-1].retry is not None
        # The simulator went down with it (serve waits for it before it exits).
        assert not _accepts(sim_port)

"""Real components for the payment tests, none of which needs a database: the Daraja
simulator served over HTTP by its own CLI (granian, in a subprocess), and a loopback HTTP
server that records what is POSTed to it (callbacks) or plays a misbehaving gateway.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gamehub.core.mpesa.client import DarajaConfig
from gamehub.core.mpesa.credentials import (
    ensure_simulator_keypair,
    security_credential,
    stk_credentials,
)

# Short enough to keep the suite fast, long enough that a query sent right after the push
# still finds it pending on a loaded machine.
CALLBACK_DELAY = 0.5
# Never reached by itself during a test: a test that wants the late callback moves the
# simulator's clock (RunningSimulator.advance), so "not yet" and "now" are certain.
LATE_CALLBACK_DELAY = 600.0
SIM_ENV = {
    "GAMEHUB_MPESA_SIM_CONSUMER_KEY": "test-consumer-key",
    "GAMEHUB_MPESA_SIM_CONSUMER_SECRET": "test-consumer-secret",
    "GAMEHUB_MPESA_SIM_SHORTCODE": "174379",
    "GAMEHUB_MPESA_SIM_PASSKEY": "test-passkey-0123456789",
    "GAMEHUB_MPESA_SIM_B2C_SHORTCODE": "600997",
    "GAMEHUB_MPESA_SIM_INITIATOR_NAME": "testapi",
    "GAMEHUB_MPESA_SIM_INITIATOR_PASSWORD": "Initiator-Pass!*!",
}
PHONE = "254708374149"
WAIT_SECONDS = 5.0


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Received], tuple[int, bytes]]
ACCEPTED = (200, b'{"ResultCode":0,"ResultDesc":"Accepted"}')


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a thread. It records every request and answers with
    ``responder`` (by default the acknowledgement Daraja expects from a callback URL)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.responder: Responder = lambda _: ACCEPTED
        self._changed = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with server._changed:
                    server.received.append(request)
                    server._changed.notify_all()
                status, body = server.responder(request)
                # A client that timed out on purpose has hung up by now.
                with contextlib.suppress(ConnectionError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval keeps shutdown (once per test for the gateway) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def matching(self, prefix: str) -> list[Received]:
        with self._changed:
            return self._matching(prefix)

    def _matching(self, prefix: str) -> list[Received]:
        return [r for r in self.received if r.path.startswith(prefix)]

    async def wait_for(self, prefix: str, count: int = 1) -> list[Received]:
        return await anyio.to_thread.run_sync(self._wait_for, prefix, count)

    def _wait_for(self, prefix: str, count: int) -> list[Received]:
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: len(self._matching(prefix)) >= count, timeout=WAIT_SECONDS
            )
            found = self._matching(prefix)
        if not arrived:
            raise AssertionError(f"{len(found)} of {count} requests to {prefix} arrived")
        return found


@pytest.fixture(scope="session")
def receiver() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gateway() -> Iterator[LoopbackServer]:
    """A fresh loopback server per test, to play a gateway that misbehaves."""
    server = LoopbackServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Callbacks:
    """Unique callback URLs for one test on the shared receiver."""

    receiver: LoopbackServer
    prefix: str = field(default_factory=lambda: f"/cb/{uuid.uuid4().hex}")

    def url(self, name: str) -> str:
        return f"{self.receiver.url}{self.prefix}/{name}"

    def path(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def received(self, name: str) -> list[Any]:
        return [r.json() for r in self.receiver.matching(self.path(name))]

    async def wait(self, name: str, count: int = 1) -> list[Any]:
        found = await self.receiver.wait_for(self.path(name), count)
        return [r.json() for r in found]


@pytest.fixture
def callbacks(receiver: LoopbackServer) -> Callbacks:
    return Callbacks(receiver)


@dataclass
class RunningSimulator:
    base_url: str
    keys_dir: Path
    certificate_path: Path
    private_key_path: Path

    def daraja_config(self, **overrides: Any) -> DarajaConfig:
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "consumer_key": SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"],
            "consumer_secret": SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_SECRET"],
            "shortcode": SIM_ENV["GAMEHUB_MPESA_SIM_SHORTCODE"],
            "passkey": SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"],
            "b2c_shortcode": SIM_ENV["GAMEHUB_MPESA_SIM_B2C_SHORTCODE"],
            "initiator_name": SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_NAME"],
            "initiator_password": SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_PASSWORD"],
            "certificate_path": self.certificate_path,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return DarajaConfig(**values)

    async def token(self, http: httpx.AsyncClient) -> str:
        key = SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"]
        secret = SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_SECRET"]
        response = await http.get(
            f"{self.base_url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(key, secret),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def post(
        self, http: httpx.AsyncClient, path: str, body: dict[str, Any], token: str | None = None
    ) -> httpx.Response:
        bearer = token if token is not None else await self.token(http)
        return await http.post(
            self.base_url + path, json=body, headers={"Authorization": f"Bearer {bearer}"}
        )

    async def flush(self, http: httpx.AsyncClient) -> int:
        response = await http.post(f"{self.base_url}/simulator/flush")
        assert response.status_code == 200, response.text
        delivered: int = response.json()["delivered"]
        return delivered

    async def advance(self, http: httpx.AsyncClient, seconds: float) -> int:
        """Move the simulator's clock ahead; returns once the callbacks then due are
        delivered (and so answered by their receiver)."""
        response = await http.post(f"{self.base_url}/simulator/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text
        delivered: int = response.json()["delivered"]
        return delivered

    async def requests(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        response = await http.get(f"{self.base_url}/simulator/requests")
        result: list[dict[str, Any]] = response.json()
        return result

    async def callbacks(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        response = await http.get(f"{self.base_url}/simulator/callbacks")
        result: list[dict[str, Any]] = response.json()
        return result

    def stk_body(self, amount: object = 100, **overrides: Any) -> dict[str, Any]:
        shortcode = SIM_ENV["GAMEHUB_MPESA_SIM_SHORTCODE"]
        credentials = stk_credentials(shortcode, SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"])
        body: dict[str, Any] = {
            "BusinessShortCode": shortcode,
            "Password": credentials.password,
            "Timestamp": credentials.timestamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": amount,
            "PartyA": PHONE,
            "PartyB": shortcode,
            "PhoneNumber": PHONE,
            "CallBackURL": "http://127.0.0.1:9/unused",
            "AccountReference": "USER123",
            "TransactionDesc": "Deposit",
        }
        body.update(overrides)
        return body

    def query_body(self, checkout_request_id: str, **overrides: Any) -> dict[str, Any]:
        shortcode = SIM_ENV["GAMEHUB_MPESA_SIM_SHORTCODE"]
        credentials = stk_credentials(shortcode, SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"])
        body: dict[str, Any] = {
            "BusinessShortCode": shortcode,
            "Password": credentials.password,
            "Timestamp": credentials.timestamp,
            "CheckoutRequestID": checkout_request_id,
        }
        body.update(overrides)
        return body

    def credential(self, password: str | None = None, certificate: Path | None = None) -> str:
        pem = (certificate or self.certificate_path).read_bytes()
        return security_credential(password or SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_PASSWORD"], pem)

    def b2c_body(self, amount: object = 100, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "OriginatorConversationID": f"gh-{uuid.uuid4().hex}",
            "InitiatorName": SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_NAME"],
            "SecurityCredential": self.credential(),
            "CommandID": "BusinessPayment",
            "Amount": amount,
            "PartyA": SIM_ENV["GAMEHUB_MPESA_SIM_B2C_SHORTCODE"],
            "PartyB": PHONE,
            "Remarks": "withdrawal",
            "QueueTimeOutURL": "http://127.0.0.1:9/timeout",
            "ResultURL": "http://127.0.0.1:9/result",
            "Occassion": "W-1",
        }
        body.update(overrides)
        return body

    def status_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Initiator": SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_NAME"],
            "SecurityCredential": self.credential(),
            "CommandID": "TransactionStatusQuery",
            "PartyA": SIM_ENV["GAMEHUB_MPESA_SIM_B2C_SHORTCODE"],
            "IdentifierType": "4",
            "ResultURL": "http://127.0.0.1:9/result",
            "QueueTimeOutURL": "http://127.0.0.1:9/timeout",
            "Remarks": "reconcile",
        }
        body.update(overrides)
        return body


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the simulator exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the simulator did not start in time:\n{log.read_text()}")


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    """``python -m gamehub.payments.mpesa.cli`` on a free port, stopped at the end."""
    workdir = tmp_path_factory.mktemp("mpesa-sim")
    keys_dir = workdir / "keys"
    # Created here so the client's certificate exists before the simulator starts; the
    # simulator then reuses this pair.
    private_key_path, certificate_path = ensure_simulator_keypair(keys_dir)
    port = free_port()
    log = workdir / "simulator.log"
    command = [
        sys.executable,
        "-m",
        "gamehub.payments.mpesa.cli",
        "--port",
        str(port),
        "--keys-dir",
        str(keys_dir),
        "--callback-delay",
        str(CALLBACK_DELAY),
        "--late-callback-delay",
        str(LATE_CALLBACK_DELAY),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEHUB_MPESA_SIM_")}
    env.update(SIM_ENV)
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, f"{base_url}/simulator/requests", log)
        yield RunningSimulator(base_url, keys_dir, certificate_path, private_key_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # granian's worker is a child in the same session; take it down too.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# The API itself, served for real so that the simulator's callbacks can reach it.

CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"


@dataclass
class PaymentsApi:
    base_url: str
    database_url: str
    env: dict[str, str]

    def callback(self, path: str, secret: str = CALLBACK_SECRET) -> str:
        return f"{self.base_url}/payments/mpesa/{path.format(secret=secret)}"


@pytest.fixture(scope="module")
def payments_api(
    simulator: RunningSimulator, database_url: str, redis_url: str | None
) -> Iterator[PaymentsApi]:
    with serving_payments(simulator, database_url, redis_url) as api:
        yield api


@contextlib.contextmanager
def serving_payments(
    simulator: RunningSimulator, database_url: str, redis_url: str | None, **extra_env: str
) -> Iterator[PaymentsApi]:
    """The API server on the simulator, with ``extra_env`` (GAMEHUB_...) on top."""
    from tests.support.server import running_server

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:payments-{uuid.uuid4().hex[:8]}:",
        "GAMEHUB_JWT_SECRET": "payments-test-secret-" + "z" * 32,
        "GAMEHUB_ARGON2_TIME_COST": "1",
        "GAMEHUB_ARGON2_MEMORY_KIB": "64",
        "GAMEHUB_ARGON2_PARALLELISM": "1",
        "GAMEHUB_MPESA_BASE_URL": simulator.base_url,
        "GAMEHUB_MPESA_CONSUMER_KEY": SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"],
        "GAMEHUB_MPESA_CONSUMER_SECRET": SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_SECRET"],
        "GAMEHUB_MPESA_SHORTCODE": SIM_ENV["GAMEHUB_MPESA_SIM_SHORTCODE"],
        "GAMEHUB_MPESA_PASSKEY": SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"],
        "GAMEHUB_MPESA_B2C_SHORTCODE": SIM_ENV["GAMEHUB_MPESA_SIM_B2C_SHORTCODE"],
        "GAMEHUB_MPESA_INITIATOR_NAME": SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_NAME"],
        "GAMEHUB_MPESA_INITIATOR_PASSWORD": SIM_ENV["GAMEHUB_MPESA_SIM_INITIATOR_PASSWORD"],
        "GAMEHUB_MPESA_CERTIFICATE_PATH": str(simulator.certificate_path),
        "GAMEHUB_MPESA_CALLBACK_BASE_URL": base_url,
        "GAMEHUB_MPESA_CALLBACK_SECRET": CALLBACK_SECRET,
        # The tests run the reconciler themselves, when they mean to.
        "GAMEHUB_MPESA_RECONCILE_INTERVAL_SECONDS": "0",
        "GAMEHUB_MPESA_RECONCILE_AFTER_SECONDS": "0",
        "GAMEHUB_WITHDRAWAL_DAILY_LIMIT_MINOR": "100000000",
    }
    if redis_url is not None:
        env["GAMEHUB_REDIS_URL"] = redis_url
    env.update(extra_env)
    with running_server(env, workers=1, port=port):
        yield PaymentsApi(base_url, database_url, env)

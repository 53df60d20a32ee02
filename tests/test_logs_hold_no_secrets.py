"""No secret reaches a log line: the suite's main flows, run against a real ``gamehub
serve`` logging JSON at DEBUG, leave none of the passwords, tokens, keys and M-Pesa
credentials they used in its output, while that output does log each request."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.payments.conftest import (
    CALLBACK_SECRET,
    SIM_ENV,
    RunningSimulator,
    simulator,
)
from tests.payments.support import run_cli
from tests.support.api import unique_name
from tests.support.server import free_port, running_server
from tests.support.smtp import SmtpSink, token_in

# The fixture, for this module's tests (pytest finds it by name here).
__all__ = ["simulator"]

JWT_SECRET = "logs-test-jwt-secret-" + "q" * 32
PASSWORDS = ["First-Marmot-4711", "Second-Marmot-4712", "Third-Marmot-4713", "Wrong-Marmot-0000"]
PHONE = "0708374149"


@pytest.fixture(scope="module")
def served(
    simulator: RunningSimulator,
    database_url: str,
    redis_url: str | None,
    smtp_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    log = tmp_path_factory.mktemp("logs") / "server.log"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('logs')}:",
        "GAMEHUB_JWT_SECRET": JWT_SECRET,
        "GAMEHUB_LOG_FORMAT": "json",
        "GAMEHUB_LOG_LEVEL": "INFO",
        "GAMEHUB_SMTP_URL": smtp_sink.url,
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
        "GAMEHUB_MPESA_RECONCILE_INTERVAL_SECONDS": "0",
        "GAMEHUB_SERVICE_MAX_PAYOUT_MINOR": "100000",
    }
    if redis_url is not None:
        env["GAMEHUB_REDIS_URL"] = redis_url
    with running_server(env, workers=1, port=port, log_path=log):
        yield base_url, log, env


async def _wait_for(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], done: set[str]
) -> str:
    deadline = time.monotonic() + 20
    while True:
        status: str = (await http.get(path, headers=headers)).json()["status"]
        if status in done or time.monotonic() > deadline:
            return status
        await anyio.sleep(0.1)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A dozen flows, two command-line runs and a real M-Pesa round trip each way.
@pytest.mark.timeout(300)
async def test_the_main_flows_log_every_request_and_no_secret(
    served: tuple[str, Path, dict[str, str]], smtp_sink: SmtpSink, simulator: RunningSimulator
) -> None:
    base_url, log, env = served
    first, second, third, wrong = PASSWORDS
    secrets: list[str] = [JWT_SECRET, CALLBACK_SECRET, *PASSWORDS]
    secrets += [
        SIM_ENV[f"GAMEHUB_MPESA_SIM_{name}"]
        for name in ("CONSUMER_KEY", "CONSUMER_SECRET", "PASSKEY", "INITIATOR_PASSWORD")
    ]
    name = unique_name("logs")
    email = f"{name}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        # Accounts: register, a wrong and a right login, refresh, password change and reset.
        account = (
            await http.post("/register", json={"username": name, "password": first, "email": email})
        ).json()
        secrets += [account["access_token"], account["refresh_token"]]
        refused = await http.post("/login", json={"username": name, "password": wrong})
        assert refused.status_code == 401
        login = (await http.post("/login", json={"username": name, "password": first})).json()
        secrets += [login["access_token"], login["refresh_token"]]
        refreshed = await http.post(
            "/token/refresh", json={"refresh_token": login["refresh_token"]}
        )
        secrets += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
        changed = await http.post(
            "/password/change",
            headers=_bearer(refreshed.json()["access_token"]),
            json={"current_password": first, "new_password": second},
        )
        assert changed.status_code == 200, changed.text
        smtp_sink.clear()
        forgot = await http.post("/password/forgot", json={"email": email})
        assert forgot.is_success, forgot.text
        mail = next(m for m in await smtp_sink.wait_for(email) if "Reset" in str(m["Subject"]))
        reset_token = token_in(mail)
        secrets.append(reset_token)
        reset = await http.post(
            "/password/reset", json={"token": reset_token, "new_password": third}
        )
        assert reset.status_code == 200, reset.text
        session = (await http.post("/login", json={"username": name, "password": third})).json()
        headers = _bearer(session["access_token"])
        secrets += [session["access_token"], session["refresh_token"]]

        # An API token, used both ways it can be presented.
        api_token = (await http.post("/api-token", headers=headers)).json()["api_token"]
        secrets.append(api_token)
        profile = await http.get("/profile", headers={"X-API-Token": api_token})
        assert profile.status_code == 200
        assert (await http.get("/wallet", headers=_bearer(api_token))).status_code == 200

        # A deposit confirmed by its STK callback (the callback secret is in its URL), a
        # withdrawal paid out by B2C, and a spin with the money.
        deposit = await http.post("/deposit", headers=headers, json={"amount": 500, "phone": PHONE})
        assert deposit.status_code == 202, deposit.text
        path = f"/deposits/{deposit.json()['deposit_id']}"
        assert await _wait_for(http, path, headers, {"completed", "failed"}) == "completed"
        withdrawal = await http.post(
            "/withdraw", headers=headers, json={"amount": 100, "phone": PHONE}
        )
        assert withdrawal.status_code in (200, 202), withdrawal.text
        path = f"/withdrawals/{withdrawal.json()['withdrawal_id']}"
        assert await _wait_for(http, path, headers, {"completed", "failed"}) == "completed"
        spin = await http.post("/games/spin-and-win/play", headers=headers, json={"bet_amount": 10})
        assert spin.is_success, spin.text

        # An event stream opened with a ticket in its URL, as EventSource does.
        ticket = (await http.post("/events/ticket", headers=headers)).json()["ticket"]
        secrets.append(ticket)
        async with http.stream("GET", "/events/connect", params={"ticket": ticket}) as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if "connected" in line:
                    break

        # An operator's actions: a service key for a game server, used, and a deactivation.
        created = run_cli(env, "service", "create", unique_name("svc"), "--scopes", "matchmaking")
        assert created.returncode == 0, created.stderr
        service_key = created.stdout.split("key: ", 1)[1].split()[0]
        secrets.append(service_key)
        update = await http.post(
            "/update",
            headers={"X-Service-Key": service_key},
            json={"game_id": unique_name("g"), "num_players": 1, "players": [account["id"]]},
        )
        assert update.status_code == 200, update.text
        deactivated = run_cli(env, "user", "deactivate", name, "--actor", "tests")
        assert deactivated.returncode == 0, deactivated.stderr
        assert (await http.get("/me", headers=headers)).status_code == 401

        # What M-Pesa was sent: the STK password, the initiator's security credential and
        # the per-payment callback URLs are secrets too.
        sent = await http.get(f"{simulator.base_url}/simulator/requests")
        for request in sent.json():
            body = request.get("body")
            if isinstance(body, dict):
                secrets += _mpesa_secrets(body)
    for output in (created, deactivated):
        assert not _found(secrets, output.stdout.replace(service_key, "") + output.stderr)

    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # The server logged JSON, one line per request among others, each with its id.
    routes = {r.get("route") for r in records if r.get("logger") == "gamehub.access"}
    assert {"/register", "/login", "/deposit", "/payments/mpesa/stk/{secret}/{token}"} <= routes
    assert all(r["request_id"] for r in records if r.get("logger") == "gamehub.access")
    leaked = _found(secrets, "\n".join(lines))
    assert leaked == [], f"secrets in the server's log: {leaked}"


def _mpesa_secrets(body: dict[str, Any]) -> list[str]:
    found = [str(body[key]) for key in ("Password", "SecurityCredential") if body.get(key)]
    for key in ("CallBackURL", "ResultURL", "QueueTimeOutURL"):
        if body.get(key):
            # The path's secret segments: the install's secret and the payment's token.
            found += [
                part
                for part in urllib.parse.urlsplit(str(body[key])).path.split("/")
                if len(part) >= 16
            ]
    return found


def _found(secrets: list[str], text: str) -> list[str]:
    return sorted({s for s in secrets if s and s in text})

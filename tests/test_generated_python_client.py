"""A Python client generated from docs/openapi.json with openapi-python-client plays the
whole player's flow against a live server: register, log in, deposit through the M-Pesa
simulator, spin, join and play a roulette game, read the history. Every answer comes back
as the generated model, not as a string or a bare dict."""

from __future__ import annotations

import datetime
import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from gamehub import contract
from tests.support.api import PASSWORD, unique_name
from tests.support.server import free_port, running_server

BIN = Path(sys.executable).parent
PACKAGE = "gamehub_client"
CONFIG = f"package_name_override: {PACKAGE}\nproject_name_override: gamehub-client\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The client package, generated into a temporary directory, and what the generator
    printed doing it."""
    root = tmp_path_factory.mktemp("client")
    (root / "config.yaml").write_text(CONFIG)
    done = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(contract.DOCS / contract.OPENAPI_FILE),
            "--meta",
            "none",
            "--config",
            str(root / "config.yaml"),
            "--output-path",
            str(root / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # Its post-generation hooks (ruff) come from the same environment.
        env={"PATH": f"{BIN}:/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root, done.stdout + done.stderr


@pytest.fixture(scope="module")
def client_package(generated: tuple[Path, str]) -> Iterator[ModuleType]:
    root, _ = generated
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server(
    database_url: str, redis_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_JWT_SECRET": "generated-client-test-secret-" + "z" * 32,
        "GAMEHUB_ARGON2_TIME_COST": "1",
        "GAMEHUB_ARGON2_MEMORY_KIB": "64",
        "GAMEHUB_ARGON2_PARALLELISM": "1",
    }
    if redis_url is not None:
        env["GAMEHUB_REDIS_URL"] = redis_url
        env["GAMEHUB_REDIS_PREFIX"] = f"gamehub-test:{unique_name('client')}:"
    sim_port = free_port()
    # The simulator keeps its keys under the working directory.
    cwd = tmp_path_factory.mktemp("serve")
    options = ["--with-mpesa-sim", str(sim_port)]
    with running_server(env, workers=1, options=options, cwd=cwd) as base_url:
        _wait_until_answering(f"http://127.0.0.1:{sim_port}/")
        yield base_url


def _wait_until_answering(url: str) -> None:
    """The simulator starts beside the API and may be listening a moment after it."""
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_generator_prints_no_warning(generated: tuple[Path, str]) -> None:
    _, printed = generated
    assert "warning" not in printed.lower(), printed


def api(package: ModuleType, module: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{module}")


def test_a_player_flow_runs_on_the_generated_client(
    client_package: ModuleType, server: str
) -> None:
    gh = client_package
    models = importlib.import_module(f"{gh.__name__}.models")
    anonymous = gh.Client(base_url=server, raise_on_unexpected_status=True)

    def signed_in() -> Any:
        name = unique_name("client")
        body = models.RegisterIn(username=name, password=PASSWORD, dob=datetime.date(1990, 1, 1))
        registered = api(gh, "accounts.register").sync(client=anonymous, body=body)
        assert isinstance(registered, models.RegisterOut)
        logged_in = api(gh, "accounts.login").sync(
            client=anonymous, body=models.LoginIn(username=name, password=PASSWORD)
        )
        assert isinstance(logged_in, models.LoginOut)
        player = gh.AuthenticatedClient(
            base_url=server, token=logged_in.access_token, raise_on_unexpected_status=True
        )
        deposit = api(gh, "payments.deposit").sync(
            client=player,
            body=models.PaymentIn(amount=500, phone="254712345678"),
            idempotency_key=f"deposit-{name}",
        )
        assert isinstance(deposit, models.DepositOut)
        assert deposit.status == "pending"
        # The simulator answers the STK push by callback, a moment later.
        deadline = time.monotonic() + 20
        while deposit.status == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            deposit = api(gh, "payments.get_deposit").sync(
                client=player, deposit_id=deposit.deposit_id
            )
        assert deposit.status == "completed", deposit
        wallet = api(gh, "wallet.get_wallet").sync(client=player)
        assert wallet.balance == 500
        return player, registered.id

    player, _ = signed_in()
    spin = api(gh, "games.play_spin").sync(
        client=player, body=models.SpinIn(bet_amount=10), idempotency_key="spin-1"
    )
    assert isinstance(spin, models.SpinOut)
    assert spin.new_balance == pytest.approx(500 - 10 + spin.win_amount)
    replay = api(gh, "games.play_spin").sync(
        client=player, body=models.SpinIn(bet_amount=10), idempotency_key="spin-1"
    )
    assert replay == spin

    opponent, _ = signed_in()
    by_id = {}
    for who in (player, opponent):
        joined = api(gh, "games.join_roulette").sync(
            client=who, body=models.JoinIn(stake=100, max_players=2)
        )
        assert isinstance(joined, models.JoinOut)
        by_id[joined.seat] = who
        room_id = joined.roulette_id
    room = api(gh, "games.get_roulette_room").sync(client=anonymous, roulette_id=room_id)
    assert isinstance(room, models.RoomOut)
    assert room.status == "playing"
    seat_of = {p.user_id: p.seat for p in room.players}
    pulls = 0
    while room.status == "playing":
        shooter = by_id[seat_of[room.next_player]]
        pulled = api(gh, "games.pull_trigger").sync(
            client=shooter,
            body=models.RoomIn(roulette_id=room_id),
            idempotency_key=f"pull-{room_id}-{pulls}",
        )
        assert isinstance(pulled, models.PullOut)
        pulls += 1
        room = api(gh, "games.get_roulette_room").sync(client=anonymous, roulette_id=room_id)
    assert room.status == "finished"
    assert pulled.game_over is True

    history = api(gh, "stats.get_history").sync(client=player)
    assert [type(item) for item in history] == [models.HistoryItem] * len(history)
    assert {item.game for item in history} >= {"spin-and-win"}

"""The web client in a real browser: Debian's Chromium, driven by Playwright, against a
real server with the M-Pesa simulator, as `make run` serves it.

Two players register in two browser contexts, deposit through the simulator, spin, check
the spin's fairness in the browser after a seed rotation, and play a Russian Roulette game
to the end while a third context watches; every page passes axe-core without a serious
violation, and each page is photographed at phone and desktop sizes into
web/screenshots/. Opt in with GAMEHUB_TEST_BROWSER=1 (`make web-test`; CI does).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import GAMEHUB, free_port, running_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("GAMEHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "web" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "Tr1cky-Marmot-42"
# The flags this machine's Chromium needs: no sandbox as root, and no background
# connections, which the closed network refuses (see the environment's notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    os.environ.get("GAMEHUB_TEST_BROWSER") != "1",
    reason="browser test: set GAMEHUB_TEST_BROWSER=1 (make web-test)",
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
Page = playwright_sync.Page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    assert AXE.exists(), f"{AXE} is missing: cd web && npm ci"
    home = tmp_path_factory.mktemp("server")
    env = {"GAMEHUB_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'gamehub.db'}"}
    subprocess.run([str(GAMEHUB), "db", "upgrade"], env={**os.environ, **env}, cwd=home, check=True)
    options = ["--with-mpesa-sim", str(free_port())]
    with running_server(env, workers=1, options=options, cwd=home) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def check_accessibility(page: Page, name: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document)")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: {serious}"


def photograph(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def visit(page: Page, name: str) -> None:
    check_accessibility(page, name)
    photograph(page, name)


def go(page: Page, route: str, heading: str) -> None:
    page.goto(
        f"{page.context.base_url}/#{route}" if False else page.url.split("#")[0] + f"#{route}"
    )
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()


def register(page: Page, username: str) -> None:
    """A new account, with the date of birth that deposits and bets need."""
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create an account").click()
    expect(page.get_by_role("heading", level=1, name="Spin and Win")).to_be_visible()
    go(page, "/profile", "Profile")
    page.get_by_label("Date of birth").fill("1990-06-01")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()


def deposit(page: Page, amount: int, phone: str) -> None:
    go(page, "/wallet", "Wallet")
    form = page.get_by_role("region", name="Deposit with M-Pesa")
    form.get_by_label("Amount (KES)").fill(str(amount))
    form.get_by_label("M-Pesa phone number").fill(phone)
    form.get_by_role("button", name="Deposit").click()


def balance_shows(page: Page, text: str) -> None:
    expect(page.get_by_test_id("balance").first).to_have_text(re.compile(re.escape(text)))


def trigger(page: Page) -> Any:
    return page.get_by_role("button", name="Pull the trigger")


def new_player(browser: Any, server: str) -> Page:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server}/")
    return page


@pytest.mark.timeout(900)  # a whole session in three browsers, axe on every page
def test_two_players_deposit_spin_verify_and_play_roulette_while_a_third_watches(
    server: str, browser: Any
) -> None:
    alice = new_player(browser, server)
    expect(alice.get_by_role("heading", name="Log in")).to_be_visible()
    visit(alice, "login")
    register(alice, "alice_browser")

    # A deposit through the simulator completes live on the page.
    deposit(alice, 500, "0712345678")
    expect(alice.get_by_test_id("deposit-1")).to_contain_text("completed")
    balance_shows(alice, "500.00")
    visit(alice, "wallet")

    # A spin, then the seed is revealed and the spin recomputed in the browser.
    go(alice, "/spin", "Spin and Win")
    alice.get_by_label("Stake (KES)").fill("10")
    alice.get_by_role("button", name="Spin", exact=True).click()
    expect(alice.get_by_test_id("spin-result")).to_contain_text("Bet #")
    visit(alice, "spin")
    alice.get_by_role("button", name="Reveal seed and rotate").click()
    expect(alice.locator("dt", has_text="Last revealed seed")).to_be_visible()
    alice.get_by_role("button", name="Verify my bets in this browser").click()
    verifications = alice.get_by_test_id("verifications")
    expect(verifications).to_contain_text("verified")
    expect(verifications).not_to_contain_text("mismatch")

    bob = new_player(browser, server)
    register(bob, "bob_browser")
    deposit(bob, 500, "0722345678")
    expect(bob.get_by_test_id("deposit-2")).to_contain_text("completed")

    # Both take a seat at the same table; a third browser, not logged in, watches.
    for page in (alice, bob):
        go(page, "/roulette", "Russian Roulette")
        page.get_by_label("Stake (KES)").fill("50")
        page.get_by_label("Players").select_option("2")
        page.get_by_role("button", name="Join a table").click()
        expect(page.get_by_role("heading", level=1, name=re.compile(r"Room #\d+"))).to_be_visible()
    room = alice.get_by_role("heading", level=1).inner_text()
    assert bob.get_by_role("heading", level=1).inner_text() == room
    visit(alice, "roulette-room")

    watcher = new_player(browser, server)
    go(watcher, "/roulette", "Russian Roulette")
    watcher.get_by_role("link", name=re.compile(rf"{room}:")).click()
    expect(watcher.get_by_role("heading", level=1, name=room)).to_be_visible()
    expect(watcher.get_by_test_id("room-status")).to_contain_text("playing")
    visit(watcher, "roulette-watch")

    pulls = 0
    while "finished" not in watcher.get_by_test_id("room-status").inner_text():
        shooter = next(
            (
                p
                for p in (alice, bob)
                if p.get_by_role("button", name="Pull the trigger").is_visible()
            ),
            None,
        )
        if shooter is None:
            alice.wait_for_timeout(100)  # the pages are catching up with the last pull
            continue
        trigger(shooter).click()
        pulls += 1
        # Every page hears each pull live, without a reload: the event is logged at once
        # and the room read again after it; wait for both, or the last shooter's page may
        # still show its button.
        for page in (alice, bob, watcher):
            pulled = page.get_by_test_id("room-log").locator("li", has_text="pulled")
            expect(pulled).to_have_count(pulls)
            status = page.get_by_test_id("room-status")
            expect(status).to_contain_text(f"chambers pulled {pulls}/6")
        assert pulls <= 6
    for page in (alice, bob, watcher):
        expect(page.get_by_test_id("room-status")).to_contain_text("finished")
        expect(page.get_by_test_id("room-log")).to_contain_text("BANG")
    expect(watcher.get_by_test_id("room-proof")).to_have_text("Verified in this browser.")
    visit(watcher, "roulette-finished")

    go(watcher, "/roulette", "Russian Roulette")
    visit(watcher, "roulette-lobby")
    go(alice, "/boards", "Leaderboards")
    expect(alice.get_by_test_id("my-rank")).to_be_visible()
    visit(alice, "leaderboards")
    go(alice, "/profile", "Profile")
    visit(alice, "profile")

    # A lower limit applies at once, and the next deposit above it is refused, saying so.
    go(alice, "/play-safe", "Play safe")
    alice.get_by_label("Limit on").select_option("deposit")
    alice.get_by_label("Per").select_option("day")
    alice.get_by_label("Amount (KES)").fill("600")
    alice.get_by_role("button", name="Set limit").click()
    expect(alice.get_by_test_id("limits")).to_contain_text("KES 100.00 left")
    visit(alice, "play-safe")
    deposit(alice, 150, "0712345678")
    expect(alice.get_by_role("alert")).to_contain_text("leaves 100.00")


def test_a_lost_stream_says_so_and_catches_up_on_what_it_missed(server: str, browser: Any) -> None:
    carol = new_player(browser, server)
    register(carol, "carol_browser")
    go(carol, "/wallet", "Wallet")
    banner = carol.get_by_role("status").filter(has_text="Live updates are offline")
    expect(banner).to_be_hidden()

    # On the simulator, an amount ending in 93 is approved but its callback comes late:
    # the page goes offline before it, and only the catch-up can tell it the outcome.
    deposit(carol, 193, "0732345678")
    row = carol.get_by_test_id("deposit-3")
    expect(row).to_contain_text("pending")
    carol.context.set_offline(True)
    expect(banner).to_be_visible()
    token = json.loads(carol.evaluate("localStorage.getItem('gamehub.session')"))["accessToken"]
    wait_for_deposit(server, token, 3, "completed")
    expect(row).to_contain_text("pending")

    carol.context.set_offline(False)
    expect(row).to_contain_text("completed", timeout=20_000)
    expect(banner).to_be_hidden()
    balance_shows(carol, "193.00")


def wait_for_deposit(server: str, token: str, deposit_id: int, status: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server}/deposits/{deposit_id}", headers=headers).json()
        if answer["status"] == status:
            return
        time.sleep(0.2)  # polling the server's state, not waiting for time to pass
    raise AssertionError(f"deposit {deposit_id} is still {answer['status']}")

"""The bank test's load: players who deposit, withdraw, spin, play Russian Roulette and
place side bets at random, retrying one money request in ten with the same
Idempotency-Key, while every answer is tallied for the phase it fell in."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "Reliable-Marmot-42"
RETRY_SHARE = 0.1
REQUEST_TIMEOUT = 10.0
MONEY_ROUTES = (
    "/deposit",
    "/withdraw",
    "/games/spin-and-win/play",
    "/games/join",
    "/games/place-bet",
)


@dataclass
class Tally:
    """What clients saw during one phase."""

    statuses: Counter[str] = field(default_factory=Counter)
    by_route: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    money_accepted: int = 0
    # route -> status -> count, for the 5xx answers a person should read.
    server_errors: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    unhandled_bodies: list[str] = field(default_factory=list)

    def record(self, route: str, status: int | str, body: str = "") -> None:
        self.statuses[str(status)] += 1
        label = "/games/roulette/{id}" if route.startswith("/games/roulette/") else route
        self.by_route[label][str(status)] += 1
        if isinstance(status, int) and 200 <= status < 300 and route in MONEY_ROUTES:
            self.money_accepted += 1
        if isinstance(status, int) and status >= 500:
            self.server_errors[route][status] += 1
            if status == 500 and len(self.unhandled_bodies) < 5:
                self.unhandled_bodies.append(f"{route}: {body[:200]}")

    @property
    def unhandled(self) -> int:
        return self.statuses.get("500", 0)


@dataclass
class Player:
    username: str
    # A phone of their own: a number belongs to one account, and withdrawals go only to
    # one that a completed deposit (the opening one) proved.
    phone: str
    token: str = ""
    user_id: int = 0


@dataclass
class Replays:
    """Exactly-once evidence: what each retried key answered, first and again."""

    retried: int = 0
    mismatched: list[str] = field(default_factory=list)
    # Idempotency-Key -> the payment ids its answers named: more than one is a double.
    payment_ids: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def doubles(self) -> list[str]:
        return [key for key, ids in self.payment_ids.items() if len(ids) > 1]


class Bank:
    def __init__(self, base_url: str, players: int, seed: int = 7) -> None:
        self.base_url = base_url
        run = uuid.uuid4().int % 10_000
        self.players = [
            Player(f"bank_{run:04d}_{n}", phone=f"07{run:04d}{n:04d}") for n in range(players)
        ]
        self.random = random.Random(seed)
        self.tally = Tally()
        self.replays = Replays()
        self.rooms: list[int] = []
        self._stop = asyncio.Event()
        limits = httpx.Limits(max_connections=players * 2, max_keepalive_connections=players)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits)

    # Plumbing

    async def call(
        self, method: str, route: str, player: Player | None = None, **options: Any
    ) -> httpx.Response | None:
        headers = dict(options.pop("headers", {}))
        if player is not None:
            headers["Authorization"] = f"Bearer {player.token}"
        try:
            response = await self.http.request(method, route, headers=headers, **options)
        except httpx.TimeoutException:
            self.tally.record(route, "timeout")
            return None
        except httpx.TransportError:
            self.tally.record(route, "connection error")
            # As a real client would: a refused connection is not retried in a tight loop.
            await asyncio.sleep(0.5)
            return None
        self.tally.record(route, response.status_code, response.text)
        if response.status_code == 401 and player is not None:
            await self.login(player)
        return response

    async def money(
        self, route: str, player: Player, body: dict[str, Any], id_field: str | None = None
    ) -> httpx.Response | None:
        """A money-moving POST with a key; one in ten is sent again with the same key."""
        key = uuid.uuid4().hex
        first = await self.call("POST", route, player, json=body, headers={"Idempotency-Key": key})
        self._remember(key, first, id_field)
        if self.random.random() >= RETRY_SHARE:
            return first
        self.replays.retried += 1
        again = await self.call("POST", route, player, json=body, headers={"Idempotency-Key": key})
        self._remember(key, again, id_field)
        if (
            first is not None
            and again is not None
            and first.status_code < 300
            and again.status_code < 300
            and again.headers.get("Idempotent-Replayed") == "true"
            and first.content != again.content
        ):
            self.replays.mismatched.append(f"{route} {key}")
        return again or first

    def _remember(self, key: str, response: httpx.Response | None, id_field: str | None) -> None:
        if id_field is None or response is None or response.status_code >= 300:
            return
        payment_id = response.json().get(id_field)
        if isinstance(payment_id, int):
            self.replays.payment_ids[key].add(payment_id)

    async def login(self, player: Player) -> None:
        response = await self.call(
            "POST", "/login", json={"username": player.username, "password": PASSWORD}
        )
        if response is not None and response.status_code == 200:
            player.token = response.json()["access_token"]

    # Set-up

    async def open_accounts(self, deposit_kes: int) -> None:
        async def one(player: Player) -> None:
            response = await self.call(
                "POST",
                "/register",
                json={"username": player.username, "password": PASSWORD, "dob": "1990-01-01"},
            )
            if response is None or response.status_code != 201:
                raise RuntimeError(f"registration failed: {response and response.text}")
            player.token = response.json()["access_token"]
            me = await self.call("GET", "/me", player)
            assert me is not None
            player.user_id = int(me.json()["id"])
            await self.money("/deposit", player, {"amount": deposit_kes, "phone": player.phone})

        await asyncio.gather(*(one(player) for player in self.players))

    # The load

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        self._stop.clear()
        await asyncio.gather(*(self._play(player) for player in self.players))

    async def _play(self, player: Player) -> None:
        while not self._stop.is_set():
            roll = self.random.random()
            if roll < 0.10:
                await self._deposit(player)
            elif roll < 0.17:
                await self._withdraw(player)
            elif roll < 0.62:
                await self.money(
                    "/games/spin-and-win/play", player, {"bet_amount": self.random.randint(10, 50)}
                )
            elif roll < 0.72:
                await self._side_bet(player)
            elif roll < 0.80:
                await self.call("GET", "/wallet", player)
            else:
                await self._roulette(player)

    async def _deposit(self, player: Player) -> None:
        # Amounts ending in 00 succeed at the simulator; see docs/mpesa-simulator.md.
        amount = self.random.choice([100, 200, 300, 500])
        body = {"amount": amount, "phone": player.phone}
        await self.money("/deposit", player, body, "deposit_id")

    async def _withdraw(self, player: Player) -> None:
        amount = self.random.choice([100, 200])
        body = {"amount": amount, "phone": player.phone}
        await self.money("/withdraw", player, body, "withdrawal_id")

    async def _side_bet(self, player: Player) -> None:
        if not self.rooms:
            return
        room_id = self.random.choice(self.rooms[-8:])
        room = await self.call("GET", f"/games/roulette/{room_id}")
        if room is None or room.status_code != 200 or not room.json().get("bets_open"):
            return
        seated = [p["user_id"] for p in room.json()["players"] if p["user_id"] != player.user_id]
        if not seated:
            return
        await self.money(
            "/games/place-bet",
            player,
            {
                "roulette_id": room_id,
                "player_id": self.random.choice(seated),
                "bet_type": self.random.choice(["survival", "elimination"]),
                "bet_amount": self.random.randint(10, 30),
            },
        )

    async def _roulette(self, player: Player) -> None:
        joined = await self.money("/games/join", player, {"stake": 10, "max_players": 2})
        if joined is None or joined.status_code != 200:
            return
        room_id = int(joined.json()["roulette_id"])
        self.rooms.append(room_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self._stop.is_set():
            room = await self.call("GET", f"/games/roulette/{room_id}")
            if room is None or room.status_code != 200:
                await asyncio.sleep(0.5)
                continue
            state = room.json()
            if state["status"] in ("finished", "cancelled"):
                return
            if state["status"] == "waiting" and time.monotonic() > deadline - 20:
                await self.call("POST", "/games/leave", player, json={"roulette_id": room_id})
                return
            # next_player is a user id (it was once compared with a seat number here).
            if state["status"] == "playing" and state["next_player"] == player.user_id:
                if self.random.random() < 0.05:
                    await self.call("POST", "/games/leave", player, json={"roulette_id": room_id})
                    return
                await self.call(
                    "POST", "/games/pull-trigger", player, json={"roulette_id": room_id}
                )
            await asyncio.sleep(0.2)

    async def burst(self, requests: int) -> None:
        """``requests`` at once: anonymous boards, wallets and spins."""
        players = self.players

        async def one(n: int) -> None:
            player = players[n % len(players)]
            kind = n % 3
            if kind == 0:
                await self.call("GET", "/leaderboard")
            elif kind == 1:
                await self.call("GET", "/wallet", player)
            else:
                await self.money("/games/spin-and-win/play", player, {"bet_amount": 10})

        await asyncio.gather(*(one(n) for n in range(requests)))

    async def close(self) -> None:
        await self.http.aclose()

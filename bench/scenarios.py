"""The scenarios of issue 10, each a row: the write paths against pgbench, the reads
against the hello, logins and registrations against the hashing ceiling."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from bench import flows, procs
from bench.harness import (
    ROULETTE_STAKE,
    SIDE_BET,
    SPIN_STAKE,
    Bench,
    line,
)
from bench.measure import (
    Row,
    Sample,
    Target,
)


def write_rows(bench: Bench, server: procs.Server) -> list[Row]:
    assert bench.punters is not None
    assert bench.players is not None
    assert bench.rooms is not None
    pgbench = bench.pgbench()
    spin = json.dumps({"bet_amount": SPIN_STAKE})
    spins = [line("POST", "/games/spin-and-win/play", u.token, spin) for u in bench.punters]
    rows = []
    if bench.config.wants("spin"):
        rows.append(
            bench.compare(
                "spin",
                "req/s",
                "pgbench bet",
                pgbench,
                bench.wrk(server, spins),
                Target(0.25, 50),
            )
        )
    if bench.config.wants("spin_idem"):
        rows.append(
            bench.compare(
                "spin_idem",
                "req/s",
                "pgbench bet",
                pgbench,
                bench.wrk(server, spins, mode="idempotent"),
                Target(0.2, 50),
            )
        )
    if bench.config.wants("place_bet"):
        bets = []
        # Every bettor in turn, on every room in turn: the rooms' locks are shared
        # by 2 of the 16 connections at most.
        for i, user in enumerate(bench.punters):
            for j in range(len(bench.rooms)):
                k = (i + j) % len(bench.rooms)
                body = {
                    "roulette_id": bench.rooms[k],
                    "player_id": bench.players[2 * k].id,
                    "bet_type": "survival",
                    "bet_amount": SIDE_BET,
                }
                bets.append(line("POST", "/games/place-bet", user.token, json.dumps(body)))
        rows.append(
            bench.compare(
                "place_bet", "req/s", "pgbench bet", pgbench, bench.wrk(server, bets), Target()
            )
        )
    if bench.config.wants("roulette"):
        players = bench.players

        def games(seconds: float) -> Sample:
            return asyncio.run(
                flows.roulette_games(
                    server.port,
                    players,
                    min(bench.config.connections, len(players) // 2),
                    seconds,
                    ROULETTE_STAKE,
                    server.cpu_seconds,
                )
            )

        rows.append(
            bench.compare("roulette", "games/s", "pgbench bet", pgbench, games, Target(0.1))
        )
    if bench.config.wants("deposit"):
        punters = bench.punters

        def deposits(seconds: float) -> Sample:
            return asyncio.run(
                flows.deposits(
                    server.port,
                    bench.sim_port,
                    punters,
                    bench.config.connections,
                    seconds,
                    bench.config.dsn,
                    server.cpu_seconds,
                )
            )

        rows.append(
            bench.compare("deposit", "deposits/s", "pgbench bet", pgbench, deposits, Target())
        )
    return rows


def read_rows(bench: Bench, server: procs.Server) -> list[Row]:
    assert bench.punters is not None
    reads: dict[str, tuple[list[str], Target]] = {
        "profile": ([line("GET", "/profile", u.token) for u in bench.punters], Target(0.2)),
        "wallet": ([line("GET", "/wallet", u.token) for u in bench.punters], Target(0.2)),
        "leaderboard": ([line("GET", "/leaderboard")], Target(0.5)),
        "user": ([line("GET", f"/user/{u.name}") for u in bench.punters], Target(0.5)),
        "health": ([line("GET", "/health")], Target(0.2)),
    }
    wanted = {k: v for k, v in reads.items() if bench.config.wants(k)}
    if not wanted:
        return []
    rows = []
    with bench.hello() as hello_server:
        hello = bench.wrk(hello_server, [line("GET", "/hello")])
        for name, (lines, target) in wanted.items():
            rows.append(
                bench.compare(name, "req/s", "hello", hello, bench.wrk(server, lines), target)
            )
    return rows


def password_rows(bench: Bench, server: procs.Server) -> list[Row]:
    assert bench.punters is not None
    rows = []
    login_calls = [
        flows.Call("POST", "/login", None, {"username": u.name, "password": flows.PASSWORD})
        for u in bench.punters
    ]
    connections = bench.config.connections

    def logins(seconds: float) -> Sample:
        return asyncio.run(
            flows.saturated(server.port, login_calls, connections, seconds, server.cpu_seconds)
        )

    if bench.config.wants("login"):
        rows.append(
            bench.compare(
                "login", "req/s", "argon2id ceiling", bench.hashing(), logins, Target(0.8)
            )
        )
    if bench.config.wants("register"):
        register_calls = [
            flows.Call("POST", "/register", None, {"username": "b", "password": flows.PASSWORD})
        ]

        def registrations(seconds: float) -> Sample:
            return asyncio.run(
                flows.saturated(
                    server.port,
                    register_calls,
                    connections,
                    seconds,
                    server.cpu_seconds,
                    unique_username=True,
                )
            )

        rows.append(
            bench.compare(
                "register", "req/s", "argon2id ceiling", bench.hashing(), registrations, Target(0.8)
            )
        )
    if bench.config.wants("login_health"):
        health = bench.wrk(server, [line("GET", "/health")], connections=1)
        login_lines = [
            line(
                "POST",
                "/login",
                None,
                json.dumps({"username": c.body["username"], "password": flows.PASSWORD}),
            )
            for c in login_calls
            if c.body is not None
        ]
        login = bench.wrk(server, login_lines)

        def during_logins(seconds: float) -> Sample:
            background = threading.Thread(target=login, args=(seconds + 2,))
            background.start()
            # Logins have saturated the workers before the measurement starts.
            time.sleep(1)
            try:
                return health(seconds)
            finally:
                background.join()

        rows.append(
            bench.compare(
                "login_health",
                "req/s",
                "health idle",
                health,
                during_logins,
                Target(max_p99_ms=50),
            )
        )
    return rows

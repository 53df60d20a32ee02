"""``python -m reliability [--short]``: the bank test with one fault at a time.

It starts PostgreSQL, Redis, the Daraja simulator and ``gamehub serve --workers 2`` of its
own on spare loopback ports, funds 32 players, runs their random load through every
phase below while it snapshots the ledger's invariants, and prints one row per phase.
The exit status is 1 when a target is missed (see docs/reliability.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from reliability.bank import Bank, Tally
from reliability.invariants import Inspector, Snapshot, Stuck
from reliability.services import Stack

RESULTS = Path(__file__).resolve().parent / "results"
PROBE_INTERVAL = 0.1
SNAPSHOT_INTERVAL = 5.0
RECOVERY_TARGET_SECONDS = 5.0


@dataclass
class Scale:
    players: int
    calm_seconds: float
    after_fault_seconds: float
    postgres_down_seconds: float
    redis_down_seconds: float
    simulator_down_seconds: float
    burst: int
    settle_seconds: float


FULL = Scale(32, 60, 30, 15, 30, 15, 500, 60)
SHORT = Scale(32, 15, 12, 15, 10, 8, 500, 60)


@dataclass
class Phase:
    name: str
    tally: Tally = field(default_factory=Tally)
    recovery_seconds: float | None = None
    server_alive: bool = True


class Run:
    def __init__(self, stack: Stack, scale: Scale) -> None:
        self.stack = stack
        self.scale = scale
        self.bank = Bank(stack.server.url, scale.players)
        self.inspector = Inspector(stack.postgres.url)
        self.snapshots: list[Snapshot] = []
        self.phases: list[Phase] = []
        # (monotonic time, answered with a 2xx) for an authenticated read that needs the database.
        self.probes: list[tuple[float, bool]] = []
        self._stop = asyncio.Event()

    async def _probe(self) -> None:
        player = self.bank.players[0]
        while not self._stop.is_set():
            try:
                answer = await self.bank.http.get(
                    "/wallet", headers={"Authorization": f"Bearer {player.token}"}, timeout=2
                )
                self.probes.append((time.monotonic(), answer.status_code == 200))
            except Exception:  # any failure is a failed probe
                self.probes.append((time.monotonic(), False))
            await asyncio.sleep(PROBE_INTERVAL)

    async def _snapshots(self) -> None:
        while not self._stop.is_set():
            self.snapshots.append(await self.inspector.snapshot(time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SNAPSHOT_INTERVAL)

    def recovered_after(self, returned_at: float) -> float | None:
        ok = [at for at, good in self.probes if good and at >= returned_at]
        return None if not ok else ok[0] - returned_at

    async def phase(
        self, name: str, fault: Callable[[], Awaitable[float | None]], seconds: float
    ) -> Phase:
        """Run the load, inject ``fault`` (which returns when its dependency came back),
        and keep the load going for ``seconds`` more."""
        phase = Phase(name)
        self.bank.tally = phase.tally
        print(f"reliability: phase {name}", flush=True)
        load = asyncio.create_task(self.bank.run())
        await asyncio.sleep(2)
        returned_at = await fault()
        await asyncio.sleep(seconds)
        self.bank.stop()
        await load
        if returned_at is not None:
            phase.recovery_seconds = self.recovered_after(returned_at)
        phase.server_alive = self.stack.server.alive()
        self.phases.append(phase)
        if not phase.server_alive:
            # Measure the next fault on its own, not on a dead server.
            print(f"reliability: the API exited during {name}; starting it again", flush=True)
            await asyncio.to_thread(self.stack.server.start)
        return phase

    async def execute(self) -> None:
        scale = self.scale
        await self.bank.open_accounts(deposit_kes=5000)
        background = [asyncio.create_task(self._probe()), asyncio.create_task(self._snapshots())]
        try:
            await self._phases(scale)
        finally:
            self._stop.set()
            await asyncio.gather(*background)

    async def _phases(self, scale: Scale) -> None:
        stack = self.stack

        async def nothing() -> float | None:
            return None

        async def kill_worker() -> float | None:
            victim = min(await asyncio.to_thread(stack.server.worker_pids))
            os.kill(victim, signal.SIGKILL)
            return time.monotonic()

        async def restart_postgres() -> float | None:
            await asyncio.to_thread(stack.postgres.stop)
            await asyncio.to_thread(stack.postgres.start)
            await asyncio.sleep(5)
            await asyncio.to_thread(stack.postgres.stop)
            await asyncio.sleep(scale.postgres_down_seconds)
            await asyncio.to_thread(stack.postgres.start)
            return time.monotonic()

        async def stop_redis() -> float | None:
            await asyncio.to_thread(stack.redis.stop)
            await asyncio.sleep(scale.redis_down_seconds)
            await asyncio.to_thread(stack.redis.start)
            return time.monotonic()

        async def kill_simulator() -> float | None:
            await asyncio.to_thread(stack.simulator.kill)
            await asyncio.sleep(scale.simulator_down_seconds)
            await asyncio.to_thread(stack.simulator.start)
            return time.monotonic()

        async def burst() -> float | None:
            await self.bank.burst(scale.burst)
            return None

        after = scale.after_fault_seconds
        await self.phase("calm", nothing, scale.calm_seconds)
        await self.phase("SIGKILL a worker", kill_worker, after)
        await self.phase("PostgreSQL restart, then down", restart_postgres, after)
        await self.phase("Redis stopped, then back", stop_redis, after)
        await self.phase("simulator killed, restarted", kill_simulator, after)
        await self.phase(f"burst of {scale.burst}", burst, after)

    async def close(self) -> None:
        await self.bank.close()
        await self.inspector.close()


@dataclass
class Verdict:
    phases: list[dict[str, object]]
    drift: list[str]
    negative_wallets: int
    ledger_verify: str
    doubles: list[str]
    replay_mismatches: list[str]
    retried_keys: int
    stuck: dict[str, int]
    missed: list[str]


def judge(run: Run, ledger_verify: tuple[int, str], stuck: Stuck) -> Verdict:
    missed: list[str] = []
    rows: list[dict[str, object]] = []
    for phase in run.phases:
        tally = phase.tally
        rows.append(
            {
                "phase": phase.name,
                "statuses": dict(sorted(tally.statuses.items())),
                "money_accepted": tally.money_accepted,
                "unhandled_500": tally.unhandled,
                "server_errors": {route: dict(c) for route, c in tally.server_errors.items()},
                "by_route": {route: dict(c) for route, c in sorted(tally.by_route.items())},
                "examples_of_500": tally.unhandled_bodies,
                "recovery_seconds": phase.recovery_seconds,
                "server_alive": phase.server_alive,
            }
        )
        if tally.unhandled:
            missed.append(f"{phase.name}: {tally.unhandled} unhandled 500s")
        recovery = phase.recovery_seconds
        if recovery is None and phase.name != "calm" and "burst" not in phase.name:
            missed.append(f"{phase.name}: never recovered")
        elif recovery is not None and recovery > RECOVERY_TARGET_SECONDS:
            missed.append(f"{phase.name}: recovered after {recovery:.1f} s")
        if not phase.server_alive:
            missed.append(f"{phase.name}: the server exited")
    drift = sorted({p for s in run.snapshots for p in s.problems})
    negative = max((s.negative_wallets for s in run.snapshots), default=0)
    doubles = run.bank.replays.doubles()
    code, output = ledger_verify
    for what, bad in (
        ("ledger drift or imbalance", bool(drift)),
        ("negative wallet balances", negative > 0),
        ("gamehub ledger verify", code != 0),
        ("a retried key paid twice", bool(doubles)),
        ("a replay answered differently", bool(run.bank.replays.mismatched)),
        ("something stuck after the settle time", stuck.total > 0),
    ):
        if bad:
            missed.append(what)
    return Verdict(
        phases=rows,
        drift=drift[:20],
        negative_wallets=negative,
        ledger_verify=output.strip().splitlines()[-1] if output.strip() else f"exit {code}",
        doubles=doubles,
        replay_mismatches=run.bank.replays.mismatched,
        retried_keys=run.bank.replays.retried,
        stuck=asdict(stuck),
        missed=missed,
    )


def print_table(verdict: Verdict) -> None:
    print()
    print("| phase | requests | 2xx | 4xx | 503 | 500 | other | money accepted | recovery |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in verdict.phases:
        statuses: dict[str, int] = row["statuses"]  # type: ignore[assignment]
        total = sum(statuses.values())
        ok = sum(n for s, n in statuses.items() if s.startswith("2"))
        client = sum(n for s, n in statuses.items() if s.startswith("4"))
        unavailable = statuses.get("503", 0)
        unhandled = statuses.get("500", 0)
        other = total - ok - client - unavailable - unhandled
        recovery = row["recovery_seconds"]
        shown = "-" if recovery is None else f"{recovery:.1f} s"
        print(
            f"| {row['phase']} | {total} | {ok} | {client} | {unavailable} | {unhandled} "
            f"| {other} | {row['money_accepted']} | {shown} |"
        )
    print()
    print(f"ledger: drift {len(verdict.drift)}, negative wallets {verdict.negative_wallets}, "
          f"`gamehub ledger verify`: {verdict.ledger_verify}")  # fmt: skip
    print(f"retried keys {verdict.retried_keys}: doubles {len(verdict.doubles)}, "
          f"replays that differed {len(verdict.replay_mismatches)}")  # fmt: skip
    print(f"stuck after the settle time: {verdict.stuck}")
    for row in verdict.phases:
        for example in row["examples_of_500"]:  # type: ignore[attr-defined]
            print(f"  500 in {row['phase']}: {example}")
    missed = "; ".join(verdict.missed)
    print(f"targets missed: {missed}" if missed else "targets: all met")


async def main_async(scale: Scale, label: str) -> int:
    stack = Stack(workers=2)
    print(f"reliability: starting PostgreSQL, Redis, the simulator and the API in {stack.root}")
    await asyncio.to_thread(stack.start)
    run = Run(stack, scale)
    try:
        await run.execute()
        print(f"reliability: letting the platform settle for {scale.settle_seconds:.0f} s")
        await asyncio.sleep(scale.settle_seconds)
        verify = await asyncio.to_thread(stack.gamehub, "ledger", "verify")
        stuck = await run.inspector.stuck(timedelta(seconds=scale.settle_seconds))
        verdict = judge(run, (verify.returncode, verify.stdout + verify.stderr), stuck)
    finally:
        await run.close()
        # The API's log stays beside the results, for the 500s a person should read.
        await asyncio.to_thread(stack.stop, RESULTS)
    print_table(verdict)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{label}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(asdict(verdict), indent=2))
    print(f"reliability: details in {out}")
    return 1 if verdict.missed else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the CI form: under 5 minutes")
    options = parser.parse_args()
    scale, label = (SHORT, "short") if options.short else (FULL, "full")
    sys.exit(asyncio.run(main_async(scale, label)))


main()

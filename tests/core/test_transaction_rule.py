"""One unit of work per request, job and callback; a mid-request commit is a named,
explained call in the few modules that need one; side effects run by declared phase."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import text

from gamehub.core.db import AfterCommit, Phase, after_commit, commit_durable_step
from gamehub.core.runtime import Runtime

SOURCE = Path(__file__).resolve().parents[2] / "src" / "gamehub"

# Each needs a step durable before the request goes on, and says why at the call.
MAY_COMMIT_A_DURABLE_STEP = {
    # A deadlock retry must not lose what came before the retried step.
    "core/db.py",
    # A claimed key freed for the retry of a request that failed after its durable step.
    "core/idempotency.py",
    # A payment is on record before M-Pesa is asked to move money.
    "payments/service/deposits.py",
    "payments/service/withdrawals.py",
    # A failed login's count and a reused token's revocation outlive the refusal; no
    # transaction is held while a password hash runs.
    "accounts/service.py",
}


def calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def sources() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(SOURCE)), ast.parse(path.read_text(), str(path)))
        for path in sorted(SOURCE.rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_only_the_listed_modules_commit_a_durable_step() -> None:
    found = {
        module
        for module, tree in sources()
        for call in calls(tree)
        if called_name(call) == "commit_durable_step"
    }
    assert found <= MAY_COMMIT_A_DURABLE_STEP, found - MAY_COMMIT_A_DURABLE_STEP


def test_every_durable_step_says_why() -> None:
    for module, tree in sources():
        for call in calls(tree):
            if called_name(call) != "commit_durable_step":
                continue
            reason = call.args[1] if len(call.args) > 1 else None
            assert isinstance(reason, ast.Constant), f"{module}:{call.lineno}"
            assert isinstance(reason.value, str), f"{module}:{call.lineno}"
            assert reason.value.strip(), f"{module}:{call.lineno}"


def test_nothing_else_commits() -> None:
    """Sessions commit in the unit of work (core/db.py) and nowhere else."""
    committing = {
        f"{module}:{call.lineno}"
        for module, tree in sources()
        for call in calls(tree)
        if called_name(call) == "commit" and module != "core/db.py"
    }
    assert committing == set()


def test_no_error_commits_on_its_way_out() -> None:
    for module, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.attr
                assert name != "commit_before_raising", f"{module}:{node.lineno}"


async def test_after_commit_runs_by_phase_then_in_registration_order(runtime: Runtime) -> None:
    ran: list[str] = []

    def note(what: str) -> AfterCommit:
        async def record() -> None:
            ran.append(what)

        return record

    async with runtime.db.unit_of_work() as session:
        after_commit(session, note("leaderboard"), phase=Phase.DERIVED)
        after_commit(session, note("mail"), phase=Phase.OUTSIDE)
        after_commit(session, note("first event"), phase=Phase.EVENTS)
        after_commit(session, note("cache"), phase=Phase.STATE)
        after_commit(session, note("second event"), phase=Phase.EVENTS)
        assert ran == []

    assert ran == ["cache", "first event", "second event", "leaderboard", "mail"]


async def test_a_rollback_drops_every_phase(runtime: Runtime) -> None:
    ran: list[Phase] = []

    async def fail_after_registering_every_phase() -> None:
        async with runtime.db.unit_of_work() as session:
            for phase in Phase:

                async def record(phase: Phase = phase) -> None:
                    ran.append(phase)

                after_commit(session, record, phase=phase)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        await fail_after_registering_every_phase()
    assert ran == []


async def test_a_durable_step_commits_and_runs_what_waited_for_it(runtime: Runtime) -> None:
    ran: list[str] = []

    async def announce() -> None:
        ran.append("announced")

    async with runtime.db.unit_of_work() as session:
        await session.execute(text("SELECT 1"))
        after_commit(session, announce, phase=Phase.EVENTS)
        await commit_durable_step(session, "the test's step is durable before it goes on")
        assert ran == ["announced"]
        # The session carries on in a new transaction, committed by its owner.
        await session.execute(text("SELECT 1"))
    assert ran == ["announced"]

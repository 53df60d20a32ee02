"""The ledger: balanced postings, guarded wallet debits, and every invariant held."""

from __future__ import annotations

import uuid

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from gamehub.core.runtime import Runtime
from gamehub.models import Account
from gamehub.models.ledger import AccountKind, Category
from gamehub.wallet.errors import AlreadyPosted, InsufficientFunds
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.verify import verify_ledger


async def _open_accounts(runtime: Runtime, wallets: int) -> list[int]:
    """Wallet accounts with no user (the ledger does not care), plus the house."""
    async with runtime.db.unit_of_work() as session:
        accounts = [
            Account(
                code=f"wallet:test-{uuid.uuid4().hex}:KES",
                kind=AccountKind.WALLET.value,
                currency="KES",
                balance=0,
            )
            for _ in range(wallets)
        ]
        session.add_all(accounts)
        await session.flush()
        await Ledger(session).system_account(AccountKind.HOUSE, "KES")
        return [a.id for a in accounts]


async def _transfer(
    runtime: Runtime,
    source: int | None,
    target: int | None,
    amount: int,
    reference: str | None = None,
) -> None:
    """Move ``amount`` from ``source`` to ``target``; None means the house."""
    async with runtime.db.unit_of_work() as session:
        ledger = Ledger(session)
        house = await ledger.system_account(AccountKind.HOUSE, "KES")
        debit = house if source is None else await session.get(Account, source)
        credit = house if target is None else await session.get(Account, target)
        assert debit is not None
        assert credit is not None
        await ledger.post(
            Category.ADJUSTMENT,
            [Posting(debit, -amount), Posting(credit, amount)],
            reference=reference,
        )


async def _balance(runtime: Runtime, account_id: int) -> int:
    async with runtime.db.unit_of_work() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        return await Ledger(session).balance(account)


async def test_a_credit_and_a_debit_keep_every_invariant(runtime: Runtime) -> None:
    [wallet] = await _open_accounts(runtime, 1)
    await _transfer(runtime, None, wallet, 10_000)
    await _transfer(runtime, wallet, None, 2_550)
    assert await _balance(runtime, wallet) == 7_450
    async with runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert report.ok, report.problems
    assert report.entries == 4


async def test_a_wallet_is_never_overdrawn(runtime: Runtime) -> None:
    [wallet] = await _open_accounts(runtime, 1)
    await _transfer(runtime, None, wallet, 500)
    with pytest.raises(InsufficientFunds):
        await _transfer(runtime, wallet, None, 501)
    assert await _balance(runtime, wallet) == 500


async def test_a_reference_posts_once(runtime: Runtime) -> None:
    [wallet] = await _open_accounts(runtime, 1)
    await _transfer(runtime, None, wallet, 100, reference="once-only")
    with pytest.raises(AlreadyPosted):
        await _transfer(runtime, None, wallet, 100, reference="once-only")
    assert await _balance(runtime, wallet) == 100


@pytest.mark.parametrize(
    ("amounts", "message"),
    [([100, -99], "sum to zero"), ([100], "at least two"), ([0, 0], "cannot be zero")],
)
async def test_malformed_postings_are_refused(
    runtime: Runtime, amounts: list[int], message: str
) -> None:
    [wallet] = await _open_accounts(runtime, 1)
    async with runtime.db.unit_of_work() as session:
        ledger = Ledger(session)
        house = await ledger.system_account(AccountKind.HOUSE, "KES")
        account = await session.get(Account, wallet)
        assert account is not None
        targets = [account, house]
        with pytest.raises(ValueError, match=message):
            await ledger.post(
                Category.ADJUSTMENT, [Posting(targets[i], a) for i, a in enumerate(amounts)]
            )


async def test_verify_finds_a_tampered_balance(runtime: Runtime) -> None:
    [wallet] = await _open_accounts(runtime, 1)
    await _transfer(runtime, None, wallet, 1_000)
    async with runtime.db.unit_of_work() as session:
        await session.execute(update(Account).where(Account.id == wallet).values(balance=1_001))
    async with runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert not report.ok
    assert any(
        f"wallet {wallet}: balance 1001 but entries sum to 1000" in p for p in report.problems
    )


async def test_one_hundred_simultaneous_debits_never_overdraw(runtime: Runtime) -> None:
    [wallet] = await _open_accounts(runtime, 1)
    await _transfer(runtime, None, wallet, 5_000)  # room for exactly 50 debits of 100
    outcomes: list[str] = []

    async def debit() -> None:
        try:
            await _transfer(runtime, wallet, None, 100)
            outcomes.append("ok")
        except InsufficientFunds:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(debit)
    assert outcomes.count("ok") == 50
    assert outcomes.count("refused") == 50
    assert await _balance(runtime, wallet) == 0
    async with runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert report.ok, report.problems


# None stands for the house; the others index the example's wallets.
operations = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 2)),
        st.one_of(st.none(), st.integers(0, 2)),
        st.integers(min_value=1, max_value=50_000),
    ).filter(lambda op: op[0] != op[1]),
    min_size=1,
    max_size=15,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
async def test_random_operations_keep_every_invariant(
    runtime: Runtime, ops: list[tuple[int | None, int | None, int]]
) -> None:
    wallets = await _open_accounts(runtime, 3)
    expected = [0, 0, 0]
    for source, target, amount in ops:
        would_overdraw = source is not None and expected[source] < amount
        try:
            await _transfer(
                runtime,
                None if source is None else wallets[source],
                None if target is None else wallets[target],
                amount,
            )
        except InsufficientFunds:
            assert would_overdraw
            continue
        assert not would_overdraw
        if source is not None:
            expected[source] -= amount
        if target is not None:
            expected[target] += amount
    assert [await _balance(runtime, w) for w in wallets] == expected
    async with runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert report.ok, report.problems

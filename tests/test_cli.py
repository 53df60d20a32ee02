"""The gamehub command: migrations, administrators, and serve's refusal to split state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from gamehub.cli import main
from gamehub.core.db import Database
from gamehub.models import Account, AuditLog, InstallSecret, User
from gamehub.settings import get_settings


@pytest.fixture
def scratch_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("GAMEHUB_DATABASE_URL", url)
    monkeypatch.delenv("GAMEHUB_REDIS_URL", raising=False)
    monkeypatch.setenv("GAMEHUB_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("GAMEHUB_ARGON2_TIME_COST", "1")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_db_upgrade_current_and_downgrade(scratch_db: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "current"]).output.strip() == "(empty database)"
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert "(head)" in runner.invoke(main, ["db", "current"]).output
    assert runner.invoke(main, ["db", "downgrade", "base"]).exit_code == 0
    assert runner.invoke(main, ["db", "current"]).output.strip() == "(empty database)"


def _is_admin(url: str, username: str) -> bool:
    async def read() -> bool:
        database = Database(url)
        try:
            async with database.unit_of_work() as session:
                result = await session.execute(
                    select(User.is_admin).where(User.username_key == username)
                )
                return bool(result.scalar_one())
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_create_admin_creates_then_promotes(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    created = runner.invoke(main, ["create-admin", "root_admin", "--password", "Adm1n-Strong-Pass"])
    assert created.exit_code == 0, created.output
    assert "created administrator root_admin" in created.output
    assert _is_admin(scratch_db, "root_admin")
    again = runner.invoke(main, ["create-admin", "root_admin", "--password", "whatever-x"])
    assert "promoted" in again.output


def test_create_admin_refuses_a_weak_password(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["create-admin", "weakling", "--password", "password"])
    assert result.exit_code != 0
    assert "password" in result.output


def test_serve_refuses_several_workers_without_redis(scratch_db: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "GAMEHUB_REDIS_URL" in result.output


def test_wallet_adjust_credits_debits_and_verify_passes(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["create-admin", "operator", "--password", "Adm1n-Strong-Pass"])
    credit = runner.invoke(main, ["wallet", "adjust", "operator", "150.50", "--reason", "goodwill"])
    assert credit.exit_code == 0, credit.output
    assert "balance 150.50" in credit.output
    debit = runner.invoke(main, ["wallet", "adjust", "operator", "-50", "--reason", "correction"])
    assert "balance 100.50" in debit.output
    overdraw = runner.invoke(main, ["wallet", "adjust", "operator", "-1000", "--reason", "x"])
    assert overdraw.exit_code == 1
    assert "Insufficient" in overdraw.output
    for bad in ("0", "1.001", "abc"):
        assert (
            runner.invoke(main, ["wallet", "adjust", "operator", bad, "--reason", "x"]).exit_code
            == 2
        )
    unknown = runner.invoke(main, ["wallet", "adjust", "nobody", "5", "--reason", "x"])
    assert unknown.exit_code == 1
    verified = runner.invoke(main, ["ledger", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "ledger ok: 2 transactions, 4 entries, 1 wallets" in verified.output


def test_ledger_verify_exits_1_on_drift(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["create-admin", "operator", "--password", "Adm1n-Strong-Pass"])
    runner.invoke(main, ["wallet", "adjust", "operator", "10", "--reason", "seed"])

    async def tamper() -> None:
        database = Database(scratch_db)
        try:
            async with database.unit_of_work() as session:
                await session.execute(update(Account).values(balance=Account.balance + 1))
        finally:
            await database.dispose()

    asyncio.run(tamper())
    result = runner.invoke(main, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "problem:" in result.output


def test_user_unlock_and_deactivate(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["create-admin", "operator", "--password", "Adm1n-Strong-Pass"])
    unlocked = runner.invoke(main, ["user", "unlock", "operator"])
    assert unlocked.exit_code == 0, unlocked.output
    assert "unlocked operator (0 lock records cleared)" in unlocked.output
    deactivated = runner.invoke(main, ["user", "deactivate", "operator", "--actor", "ops"])
    assert deactivated.exit_code == 0, deactivated.output
    assert "deactivated operator" in deactivated.output
    again = runner.invoke(main, ["user", "deactivate", "operator"])
    assert again.exit_code == 1
    assert "already deactivated" in again.output
    for command in ("unlock", "deactivate"):
        unknown = runner.invoke(main, ["user", command, "nobody"])
        assert unknown.exit_code == 1
        assert "No user named nobody" in unknown.output


def _audit(url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        database = Database(url)
        try:
            async with database.unit_of_work() as session:
                rows = await session.execute(
                    select(AuditLog.actor, AuditLog.action, AuditLog.after).order_by(AuditLog.id)
                )
                return [(actor, action, after or "") for actor, action, after in rows]
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_user_grant_and_revoke_roles_with_an_audit_row_each(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["create-admin", "root_admin", "--password", "Adm1n-Strong-Pass"])
    runner.invoke(main, ["create-admin", "helpdesk", "--password", "Adm1n-Strong-Pass"])
    revoked = runner.invoke(main, ["user", "revoke", "helpdesk", "admin", "--actor", "ops"])
    assert revoked.exit_code == 0, revoked.output
    assert "helpdesk now holds no role" in revoked.output
    assert not _is_admin(scratch_db, "helpdesk")
    granted = runner.invoke(main, ["user", "grant", "helpdesk", "support", "--actor", "ops"])
    assert granted.exit_code == 0, granted.output
    assert "helpdesk now holds support" in granted.output
    twice = runner.invoke(main, ["user", "grant", "helpdesk", "support"])
    assert twice.exit_code == 1
    assert "holds support already" in twice.output
    unknown = runner.invoke(main, ["user", "grant", "helpdesk", "root"])
    assert unknown.exit_code == 2
    trail = _audit(scratch_db)
    assert [(actor, action) for actor, action, _ in trail] == [
        ("cli:create-admin", "grant_role"),
        ("cli:create-admin", "grant_role"),
        ("cli:ops", "revoke_role"),
        ("cli:ops", "grant_role"),
    ]
    assert '"support"' in trail[-1][2]


def test_user_kyc_sets_the_status_an_operator_checked_with_an_audit_row(
    scratch_db: str,
) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["create-admin", "operator", "--password", "Adm1n-Strong-Pass"])
    done = runner.invoke(main, ["user", "kyc", "operator", "verified", "--actor", "ops"])
    assert done.exit_code == 0, done.output
    assert "operator: KYC verified" in done.output
    assert runner.invoke(main, ["user", "kyc", "operator", "maybe"]).exit_code == 2
    unknown = runner.invoke(main, ["user", "kyc", "nobody", "verified"])
    assert unknown.exit_code == 1
    assert "No user named nobody" in unknown.output
    # Only the change that happened is on the trail, named as grant and revoke name theirs.
    actor, action, after = _audit(scratch_db)[-1]
    assert (actor, action, after) == ("cli:ops", "set_kyc", '{"kyc_status": "verified"}')


def test_every_command_shares_the_secrets_the_first_start_generated(scratch_db: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])

    async def stored() -> dict[str, str]:
        database = Database(scratch_db)
        try:
            async with database.unit_of_work() as session:
                rows = await session.execute(select(InstallSecret.name, InstallSecret.value))
                return {name: value for name, value in rows}
        finally:
            await database.dispose()

    runner.invoke(main, ["create-admin", "operator", "--password", "Adm1n-Strong-Pass"])
    first = asyncio.run(stored())
    assert set(first) == {"jwt_secret", "mpesa_callback_secret"}
    runner.invoke(main, ["user", "unlock", "operator"])
    runner.invoke(main, ["leaderboard", "snapshot"])
    assert asyncio.run(stored()) == first

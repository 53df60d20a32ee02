"""argon2 parameters: weaker stored hashes are upgraded at login, stronger ones kept; and
hashing runs in a bounded pool of low-priority threads while no database connection is
held."""

from __future__ import annotations

import hashlib
import os
import sys
import threading

import anyio
import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy import select, update

from gamehub.core.passwords import (
    HASHING_THREAD_NICE,
    WORKERS_ENV,
    PasswordHashing,
    hashing_threads,
)
from gamehub.core.runtime import Runtime
from gamehub.models import User
from gamehub.settings import Settings
from tests.conftest import make_settings
from tests.support.api import PASSWORD, Client, bearer, login, register, unique_name
from tests.support.smtp import SmtpSink, token_in

# Cheap, but above the minimum in each parameter, so that weaker hashes exist.
TIME, MEMORY, LANES = 2, 256, 2
NEW_PASSWORD = "Another-Good-One-77"


@pytest.fixture
def settings(database_url: str, redis_url: str | None, smtp_sink: SmtpSink) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        smtp_url=smtp_sink.url,
        argon2_time_cost=TIME,
        argon2_memory_kib=MEMORY,
        argon2_parallelism=LANES,
    )


def _argon2(time_cost: int, memory_kib: int, lanes: int, kind: Type = Type.ID) -> str:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=lanes, type=kind
    ).hash(PASSWORD)


def _werkzeug_pbkdf2(password: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), b"s4LtS4lt", 1000).hex()
    return f"pbkdf2:sha256:1000$s4LtS4lt${digest}"


WEAKER = {
    "time": _argon2(TIME - 1, MEMORY, LANES),
    "memory": _argon2(TIME, MEMORY // 2, LANES),
    "lanes": _argon2(TIME, MEMORY, LANES - 1),
    "argon2i": _argon2(TIME + 1, MEMORY * 2, LANES, Type.I),
    "werkzeug": _werkzeug_pbkdf2(PASSWORD),
}
STRONGER = {
    "time": _argon2(TIME + 1, MEMORY, LANES),
    "memory": _argon2(TIME, MEMORY * 2, LANES),
    "lanes": _argon2(TIME, MEMORY, LANES + 2),
    "all three": _argon2(TIME + 2, MEMORY * 4, LANES * 2),
}


def test_the_defaults_are_owasps() -> None:
    fields = Settings.model_fields
    assert fields["argon2_memory_kib"].default == 19 * 1024
    assert fields["argon2_time_cost"].default == 2
    assert fields["argon2_parallelism"].default == 1


def test_a_hash_weaker_in_any_respect_needs_a_rehash_and_a_stronger_one_does_not() -> None:
    configured = PasswordHashing(time_cost=TIME, memory_kib=MEMORY, parallelism=LANES)
    for kind, stored in WEAKER.items():
        assert configured.verify(stored, PASSWORD), kind
        assert configured.needs_rehash(stored), kind
    for kind, stored in STRONGER.items():
        assert configured.verify(stored, PASSWORD), kind
        assert not configured.needs_rehash(stored), kind
    assert not configured.needs_rehash(configured.hash(PASSWORD))


async def _user_with_hash(client: Client, runtime: Runtime, stored: str) -> str:
    name = unique_name()
    await register(client, name)
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(User).where(User.username == name).values(password_hash=stored)
        )
    return name


async def _stored_hash(runtime: Runtime, name: str) -> str:
    async with runtime.db.unit_of_work() as session:
        result = await session.execute(select(User.password_hash).where(User.username == name))
        return str(result.scalar_one())


async def test_login_upgrades_a_hash_weaker_in_any_respect(
    client: Client, runtime: Runtime
) -> None:
    for kind, stored in WEAKER.items():
        name = await _user_with_hash(client, runtime, stored)
        await login(client, name)
        upgraded = await _stored_hash(runtime, name)
        parameters = extract_parameters(upgraded)
        assert (parameters.type, parameters.time_cost) == (Type.ID, TIME), kind
        assert (parameters.memory_cost, parameters.parallelism) == (MEMORY, LANES), kind
        await login(client, name)
        assert await _stored_hash(runtime, name) == upgraded, kind


async def test_login_keeps_a_stronger_hash_as_it_is(client: Client, runtime: Runtime) -> None:
    for kind, stored in STRONGER.items():
        name = await _user_with_hash(client, runtime, stored)
        await login(client, name)
        assert await _stored_hash(runtime, name) == stored, kind


async def test_no_database_connection_is_held_while_a_password_hashes(
    client: Client, runtime: Runtime, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every flow that hashes (register, login known, unknown, wrong and with a rehash,
    password change, reset) does so with the database pool's connections all in."""
    passwords = runtime.passwords
    pool = runtime.db.engine.pool
    held: list[tuple[str, int]] = []
    hash_async, verify_async = passwords.hash_async, passwords.verify_async

    async def hashing(password: str) -> str:
        held.append(("hash", pool.checkedout()))  # type: ignore[attr-defined]
        return await hash_async(password)

    async def verifying(stored_hash: str | None, password: str) -> bool:
        held.append(("verify", pool.checkedout()))  # type: ignore[attr-defined]
        return await verify_async(stored_hash, password)

    monkeypatch.setattr(passwords, "hash_async", hashing)
    monkeypatch.setattr(passwords, "verify_async", verifying)

    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    await login(client, name)
    wrong = await client.post("/login", json={"username": name, "password": "not it!!"})
    unknown = await client.post("/login", json={"username": unique_name(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    legacy = await _user_with_hash(client, runtime, WEAKER["werkzeug"])
    await login(client, legacy)
    changed = await client.post(
        "/password/change",
        headers=bearer(account["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    await client.post("/password/forgot", json={"email": email})
    mails = await smtp_sink.wait_for(email, count=2)
    token = token_in(next(m for m in mails if "Reset" in str(m["Subject"])))
    reset = await client.post(
        "/password/reset", json={"token": token, "new_password": "Third-Pw-99x"}
    )
    assert reset.status_code == 200
    # register x2, login, wrong, unknown, legacy login and its rehash, change x2, reset
    assert len(held) == 10
    assert held == [(kind, 0) for kind, _ in held]


async def test_a_login_does_not_write_back_a_password_changed_while_it_was_checked(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old password matched, and its weaker hash would have been upgraded; but a
    password change committed meanwhile wins, and the login is refused."""
    name = await _user_with_hash(client, runtime, WEAKER["werkzeug"])
    passwords = runtime.passwords
    verify_async = passwords.verify_async
    changed_hash = passwords.hash(NEW_PASSWORD)

    async def verify_then_change(stored_hash: str | None, password: str) -> bool:
        matched = await verify_async(stored_hash, password)
        async with runtime.db.unit_of_work() as session:
            await session.execute(
                update(User).where(User.username == name).values(password_hash=changed_hash)
            )
        return matched

    monkeypatch.setattr(passwords, "verify_async", verify_then_change)
    refused = await client.post("/login", json={"username": name, "password": PASSWORD})
    assert refused.status_code == 401
    assert await _stored_hash(runtime, name) == changed_hash
    monkeypatch.setattr(passwords, "verify_async", verify_async)
    await login(client, name, NEW_PASSWORD)


async def test_a_login_checked_while_the_account_was_disabled_is_refused(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = await _user_with_hash(client, runtime, _argon2(TIME, MEMORY, LANES))
    passwords = runtime.passwords
    verify_async = passwords.verify_async

    async def verify_then_disable(stored_hash: str | None, password: str) -> bool:
        matched = await verify_async(stored_hash, password)
        async with runtime.db.unit_of_work() as session:
            await session.execute(update(User).where(User.username == name).values(is_active=False))
        return matched

    monkeypatch.setattr(passwords, "verify_async", verify_then_disable)
    refused = await client.post("/login", json={"username": name, "password": PASSWORD})
    assert refused.status_code == 403
    async with runtime.db.unit_of_work() as session:
        user = (await session.execute(select(User).where(User.username == name))).scalar_one()
        assert user.last_login is None


async def test_of_two_resets_with_one_token_racing_only_one_sets_its_password(
    client: Client, runtime: Runtime, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    await register(client, name, email=email)
    await client.post("/password/forgot", json={"email": email})
    mails = await smtp_sink.wait_for(email, count=2)
    token = token_in(next(m for m in mails if "Reset" in str(m["Subject"])))

    # Both requests have read the token as usable before either hashes.
    passwords = runtime.passwords
    hash_async = passwords.hash_async
    arrived: list[str] = []
    both_read = anyio.Event()

    async def hash_when_both_read(password: str) -> str:
        arrived.append(password)
        if len(arrived) == 2:
            both_read.set()
        await both_read.wait()
        return await hash_async(password)

    monkeypatch.setattr(passwords, "hash_async", hash_when_both_read)
    codes: dict[str, int] = {}

    async def reset(new_password: str) -> None:
        response = await client.post(
            "/password/reset", json={"token": token, "new_password": new_password}
        )
        codes[new_password] = response.status_code

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for new_password in ("First-New-Pw-11", "Second-New-Pw-22"):
                group.start_soon(reset, new_password)
    assert sorted(codes.values()) == [200, 400]
    monkeypatch.setattr(passwords, "hash_async", hash_async)
    winner = next(pw for pw, code in codes.items() if code == 200)
    loser = next(pw for pw, code in codes.items() if code == 400)
    await login(client, name, winner)
    refused = await client.post("/login", json={"username": name, "password": loser})
    assert refused.status_code == 401


async def test_hashes_run_on_one_low_priority_thread_per_core() -> None:
    threads: dict[int, int] = {}

    class Recording(PasswordHashing):
        def hash(self, password: str) -> str:
            native_id = threading.get_native_id()
            threads[native_id] = os.getpriority(os.PRIO_PROCESS, native_id)
            return super().hash(password)

    hashing = Recording(time_cost=1, memory_kib=64, parallelism=1)
    own_priority = os.getpriority(os.PRIO_PROCESS, 0)
    async with anyio.create_task_group() as group:
        for n in range(8 * hashing_threads()):
            group.start_soon(hashing.hash_async, f"password {n}")
    assert 1 <= len(threads) <= hashing_threads()
    assert threading.get_native_id() not in threads
    assert os.getpriority(os.PRIO_PROCESS, 0) == own_priority
    if sys.platform == "linux":
        lowered = min(19, own_priority + HASHING_THREAD_NICE)
        assert set(threads.values()) == {lowered}


def test_the_server_s_workers_share_the_cores_hashing_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2}, raising=False)
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert hashing_threads() == 3
    monkeypatch.setenv(WORKERS_ENV, "2")
    assert hashing_threads() == 2
    monkeypatch.setenv(WORKERS_ENV, "8")
    assert hashing_threads() == 1
    monkeypatch.setenv(WORKERS_ENV, "not a number")
    assert hashing_threads() == 3

"""Idempotency keys live at least a day, are purged after their time, and a key whose
request made something durable is never run again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from litestar import Litestar, Request, post
from litestar.datastructures import State
from litestar.di import Provide
from pydantic import ValidationError
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.deps import Identity
from gamehub.core.db import DbSession, commit_durable_step, provide_db_session
from gamehub.core.idempotency import (
    IdempotencyDep,
    exception_handlers,
    idempotency_guard,
    purge_expired,
    record_created,
)
from gamehub.core.runtime import Runtime
from gamehub.models import IdempotencyKey
from gamehub.settings import Settings
from tests.support.api import Client, register


async def test_expired_keys_are_purged_and_live_ones_kept(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    now = datetime.now(UTC)
    async with runtime.db.unit_of_work() as session:
        for key, expires in (
            ("old", now - timedelta(seconds=1)),
            ("new", now + timedelta(hours=1)),
        ):
            session.add(
                IdempotencyKey(
                    user_id=account["id"],
                    key=key,
                    fingerprint="f" * 64,
                    response_status=200,
                    response_body="{}",
                    created_at=now,
                    expires_at=expires,
                )
            )
    assert await purge_expired(runtime) == 1
    async with runtime.db.unit_of_work() as session:
        left = (await session.execute(select(IdempotencyKey.key))).scalars().all()
    assert left == ["new"]


def test_keys_cannot_be_configured_to_live_less_than_a_day() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency_ttl_seconds=3600, _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).idempotency_ttl_seconds >= 24 * 3600  # type: ignore[call-arg]


class Made(msgspec.Struct):
    made: int


class Current(msgspec.Struct):
    current: str


async def current_thing(_: AsyncSession, __: int, kind: str, resource_id: int) -> Current:
    return Current(f"{kind} {resource_id}")


def _money_app(runtime: Runtime, user_id: int, handler: Any, current: Any = None) -> Litestar:
    """A bare app with the platform's session and one guarded route, called as ``user_id``."""
    return Litestar(
        [handler],
        state=State({"runtime": runtime}),
        dependencies={
            "db_session": Provide(provide_db_session),
            "runtime": Provide(lambda: runtime, sync_to_thread=False),
            "identity": Provide(lambda: Identity(user_id, None), sync_to_thread=False),
            "idempotency": idempotency_guard(current),
        },
        exception_handlers=dict(exception_handlers),
    )


def _thing_app(runtime: Runtime, user_id: int, runs: list[str]) -> Litestar:
    """One money-like route: it records what it created, makes it durable, then dies if
    asked to (X-Die), as a worker killed after a provider call would."""

    @post("/thing", status_code=201)
    async def thing(
        request: Request[Any, Any, Any], db_session: DbSession, idempotency: IdempotencyDep
    ) -> Made:
        runs.append("ran")
        if request.headers.get("X-Die") == "before":
            raise RuntimeError("died before anything was durable")
        await record_created(db_session, "thing", 7)
        await commit_durable_step(db_session, "the thing exists before it is announced")
        if request.headers.get("X-Die") == "after":
            raise RuntimeError("died after the durable step")
        return await idempotency.keep(Made(7))

    return _money_app(runtime, user_id, thing, current_thing)


async def test_a_key_bound_to_what_it_created_is_never_run_again(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    runs: list[str] = []
    transport = httpx.ASGITransport(app=_thing_app(runtime, account["id"], runs))
    async with httpx.AsyncClient(transport=transport, base_url="http://thing.test") as http:
        key = {"Idempotency-Key": "k1"}
        # Nothing durable happened: the key is freed and the retry runs.
        assert (await http.post("/thing", headers={**key, "X-Die": "before"})).status_code == 500
        died = await http.post("/thing", headers={**key, "X-Die": "after"})
        assert died.status_code == 500
        assert runs == ["ran", "ran"]
        # Long after the old "abandoned" mark, the key still answers with what it made.
        async with runtime.db.unit_of_work() as session:
            await session.execute(
                update(IdempotencyKey).values(created_at=datetime.now(UTC) - timedelta(hours=1))
            )
        again = await http.post("/thing", headers=key)
        assert again.status_code == 201
        assert again.json() == {"current": "thing 7"}
        assert again.headers["Idempotent-Replayed"] == "true"
        assert runs == ["ran", "ran"]
        # A request that lived stores its response, which repeats replay.
        first = await http.post("/thing", headers={"Idempotency-Key": "k2"})
        assert (first.status_code, first.json()) == (201, {"made": 7})
        replay = await http.post("/thing", headers={"Idempotency-Key": "k2"})
        assert (replay.status_code, replay.json()) == (201, {"made": 7})
        assert runs == ["ran", "ran", "ran"]


async def test_a_key_whose_database_went_away_is_freed_when_it_returns(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    # The database is away from the handler's failure until the test brings it back.
    outage = {"down": False}

    def drop_connection(*_: Any) -> None:
        if outage["down"]:
            raise ConnectionResetError(104, "connection reset by peer")

    @post("/thing")
    async def thing(db_session: DbSession, idempotency: IdempotencyDep) -> Made:
        # The claim is made durable, then the database goes away: the work and the
        # key's release both fail, as they would in a real outage.
        await commit_durable_step(db_session, "the claim is durable before the outage")
        outage["down"] = True
        raise ConnectionResetError(104, "connection reset by peer")

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", drop_connection)
    try:
        app = _money_app(runtime, account["id"], thing)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://thing.test") as http:
            assert (await http.post("/thing", headers={"Idempotency-Key": "k"})).status_code == 500
        # The worker frees the key once the database answers again, well before the
        # two minutes after which a claim counts as abandoned.
        outage["down"] = False
        with anyio.fail_after(10):
            await runtime.background.drain()
        async with runtime.db.unit_of_work() as session:
            assert (await session.execute(select(IdempotencyKey.key))).scalars().all() == []
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", drop_connection)

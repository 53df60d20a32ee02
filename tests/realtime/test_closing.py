"""Closing means closed: logout, password change or reset and deactivation end the
user's event streams and void their tickets, at once (by the bus, not a heartbeat)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar

from gamehub.accounts.service import AccountService
from gamehub.admin.service import deactivate_user
from gamehub.composition import running
from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.core.tokens import digest
from gamehub.errors import Conflict, NotFound
from tests.support.api import PASSWORD, Client, bearer, login, register, unique_name
from tests.support.apps import Served, served
from tests.support.smtp import SmtpSink, token_in
from tests.support.sse import AsgiStream

NEW_PASSWORD = "Fresh-Start-Pass-31"


async def _ended_because(stream: AsgiStream) -> str:
    """The reason of the stream's last event, once the app has ended the response."""
    closed = await stream.next_named("stream_closed")
    await stream.wait_ended()
    reason: str = closed.json()["reason"]
    return reason


async def _still_hears(stream: AsgiStream, runtime: Runtime, user_id: int) -> None:
    sent = await runtime.events.publish("bet_update", {"still": "open"}, [user_topic(user_id)])
    assert (await stream.next_named("bet_update")).id == sent


async def _ticket(client: Client, headers: dict[str, str]) -> str:
    issued = await client.post("/events/ticket", headers=headers)
    assert issued.status_code == 201
    ticket: str = issued.json()["ticket"]
    return ticket


async def test_logout_ends_that_sessions_streams_and_voids_its_tickets(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    this_session = bearer(account["access_token"])
    other_session = bearer((await login(client, account["username"]))["access_token"])
    unused_ticket = await _ticket(client, this_session)
    ticketed = AsgiStream(app, f"/events/connect?ticket={await _ticket(client, this_session)}")
    mine = AsgiStream(app, "/events/connect", this_session)
    async with mine, ticketed, AsgiStream(app, "/events/connect", other_session) as other:
        for stream in (mine, ticketed, other):
            assert (await stream.next_event()).event == "connected"
        assert (await client.post("/logout", headers=this_session)).status_code == 200
        assert await _ended_because(mine) == "logout"
        assert await _ended_because(ticketed) == "logout"
        # The user's other login is another session: it goes on.
        await _still_hears(other, runtime, account["id"])
    async with AsgiStream(app, f"/events/connect?ticket={unused_ticket}") as refused:
        assert refused.status == 401


async def test_a_password_change_ends_every_stream_but_not_the_next_login(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    other = bearer((await login(client, account["username"]))["access_token"])
    ticket = await _ticket(client, other)
    first = AsgiStream(app, "/events/connect", headers)
    async with first, AsgiStream(app, "/events/connect", other) as second:
        connected = await first.next_event()
        await second.next_event()
        changed = await client.post(
            "/password/change",
            headers=headers,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 200
        assert await _ended_because(first) == "password_changed"
        assert await _ended_because(second) == "password_changed"
    async with AsgiStream(app, f"/events/connect?ticket={ticket}") as refused:
        assert refused.status == 401
    # A new login streams again, even resuming from before the close order: replayed,
    # that order is for older credentials and is not passed on.
    fresh = bearer((await login(client, account["username"], NEW_PASSWORD))["access_token"])
    resume = {**fresh, "Last-Event-ID": str(connected.id)}
    async with AsgiStream(app, "/events/connect", resume) as again:
        assert (await again.next_event()).event == "connected"
        await _still_hears(again, runtime, account["id"])


async def test_a_password_reset_ends_the_streams(
    app: Litestar, client: Client, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    async with AsgiStream(app, "/events/connect", bearer(account["access_token"])) as stream:
        await stream.next_event()
        await client.post("/password/forgot", json={"email": email})
        reset_mail = next(
            m for m in await smtp_sink.wait_for(email, count=2) if "Reset" in str(m["Subject"])
        )
        reset = await client.post(
            "/password/reset", json={"token": token_in(reset_mail), "new_password": NEW_PASSWORD}
        )
        assert reset.status_code == 200
        assert await _ended_because(stream) == "password_reset"


async def test_deactivation_ends_streams_tokens_and_the_cached_profile(
    app: Litestar, client: Client, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    account = await register(client)
    name = account["username"]
    headers = bearer(account["access_token"])
    api_token = (await client.post("/api-token", headers=headers)).json()["api_token"]
    assert (await client.get(f"/user/{name}")).status_code == 200  # now cached
    async with AsgiStream(app, "/events/connect", {"X-API-Token": api_token}) as stream:
        await stream.next_event()
        with caplog.at_level(logging.INFO, logger="gamehub.accounts"):
            async with runtime.db.unit_of_work() as session:
                await AccountService(session, runtime).deactivate(name, "cli:test-operator")
        assert await _ended_because(stream) == "deactivated"
    assert f"user {name} (id {account['id']}) deactivated by cli:test-operator" in caplog.text
    assert (await client.get(f"/user/{name}")).status_code == 404
    assert (await client.get("/me", headers=headers)).status_code == 401
    assert (await client.get("/me", headers={"X-API-Token": api_token})).status_code == 401


@pytest.fixture
async def quick(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    async with served(database_url, redis_url, sse_heartbeat_seconds=0.2) as running:
        yield running


async def test_the_command_line_deactivation_reaches_the_server(
    quick: Served, redis_url: str | None
) -> None:
    """`gamehub user deactivate` runs in a process of its own: with Redis its order
    travels on the shared bus; without, the stream's check at its heartbeat ends it."""
    app, client = quick.app, quick.client
    account = await register(client)
    async with AsgiStream(app, "/events/connect", bearer(account["access_token"])) as stream:
        await stream.next_event()
        await stream.next_named("heartbeat")
        async with running(quick.runtime.settings) as command_line:
            await deactivate_user(command_line, account["username"], "cli:test")
        expected = "deactivated" if redis_url is not None else "revoked"
        assert await _ended_because(stream) == expected


async def test_deactivating_twice_or_nobody_is_refused(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    await deactivate_user(runtime, account["username"], "cli:test")
    with pytest.raises(Conflict, match="already deactivated"):
        await deactivate_user(runtime, account["username"], "cli:test")
    with pytest.raises(NotFound):
        await deactivate_user(runtime, unique_name(), "cli:test")


async def test_a_ticket_of_the_older_form_is_refused_not_an_error(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    ticket = await _ticket(client, bearer(account["access_token"]))
    # What a ticket held before it carried its credential: the bare user id.
    await runtime.cache.set(f"sse:ticket:{digest(ticket)}", str(account["id"]).encode(), 30)
    async with AsgiStream(app, f"/events/connect?ticket={ticket}") as refused:
        assert refused.status == 401

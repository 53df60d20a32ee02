"""Server-Sent Event routes: a player's own stream, its tickets, and watching a room."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.deps import (
    CurrentIdentity,
    Identity,
    client_ip,
    credential_issued_at,
    credential_user,
    provide_identity,
)
from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
from gamehub.core.events import parse_event_id, user_topic
from gamehub.core.openapi import PLAYER, PLAYER_OR_TICKET, event_stream
from gamehub.core.params import IdPath
from gamehub.core.ratelimit import RateLimited
from gamehub.core.runtime import Runtime, RuntimeDep
from gamehub.errors import ValidationError, error_responses
from gamehub.games.roulette.errors import RoomNotFound
from gamehub.models import User
from gamehub.realtime import schemas
from gamehub.realtime.errors import InvalidTicket, TooManyStreams, WorkerBusy
from gamehub.realtime.service import (
    Holder,
    issue_ticket,
    redeem_ticket,
    room_watcher_stream,
    user_stream,
)

LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        max_length=64,
        description="The id of the last event received; missed events are replayed first",
    ),
]


class EventsController(Controller):
    tags = ["realtime"]  # noqa: RUF012 - Litestar reads these as class attributes

    @post(
        "/events/ticket",
        operation_id="create_event_ticket",
        status_code=HTTP_201_CREATED,
        dependencies={"identity": Provide(provide_identity)},
        security=PLAYER,
        summary="A single-use ticket for EventSource, which cannot send headers",
        responses=error_responses(*IDENTITY, RateLimited),
    )
    async def ticket(self, identity: CurrentIdentity, runtime: RuntimeDep) -> schemas.TicketOut:
        await runtime.rate_limits.hit("events_ticket_user", identity.user_id)
        return schemas.TicketOut(
            ticket=await issue_ticket(runtime, _holder(identity)),
            expires_in=runtime.settings.sse_ticket_ttl_seconds,
        )

    @get(
        ["/events", "/events/connect"],
        security=PLAYER_OR_TICKET,
        summary="The caller's live events (SSE); Authorization header or ?ticket=",
        responses={
            200: event_stream("The caller's events, as they happen."),
            **error_responses(*IDENTITY, ValidationError, InvalidTicket, TooManyStreams),
        },
    )
    async def connect_events(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        runtime: RuntimeDep,
        last_event_id: LastEventId = None,
        ticket: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> Stream:
        if ticket is not None:
            holder = await redeem_ticket(runtime, ticket)
            if holder is None or await _holder_user(db_session, runtime, holder) is None:
                raise InvalidTicket()
        else:
            holder = _holder(await provide_identity(request, runtime))

        async def still_valid() -> bool:
            async with runtime.db.unit_of_work() as session:
                return await _holder_user(session, runtime, holder) is not None

        stream = await user_stream(
            runtime,
            holder,
            [user_topic(holder.user_id)],
            parse_event_id(last_event_id),
            still_valid,
        )
        return stream.response()

    @get(
        "/games/roulette/{roulette_id:int}/events",
        summary="Watch a roulette room's live events (SSE); no account needed",
        responses={
            200: event_stream("The room's events, as they happen."),
            **error_responses(ValidationError, RoomNotFound, TooManyStreams, WorkerBusy),
        },
    )
    async def watch_room(
        self,
        request: Request[Any, Any, Any],
        roulette_id: IdPath,
        db_session: DbSession,
        runtime: RuntimeDep,
        last_event_id: LastEventId = None,
    ) -> Stream:
        stream = await room_watcher_stream(
            db_session,
            runtime,
            client_ip(request, runtime.settings.trusted_proxies),
            roulette_id,
            parse_event_id(last_event_id),
        )
        return stream.response()


def _holder(identity: Identity) -> Holder:
    family = identity.claims.family_id if identity.claims is not None else None
    return Holder(identity.user_id, credential_issued_at(identity), family)


async def _holder_user(session: AsyncSession, runtime: Runtime, holder: Holder) -> User | None:
    return await credential_user(
        session, runtime, holder.user_id, holder.issued_at, holder.family_id
    )

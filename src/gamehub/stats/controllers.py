"""GET/POST /stats, GET /history, GET /leaderboard and GET /leaderboard/me."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from gamehub.accounts.deps import CurrentIdentity, Identity, load_user, provide_identity
from gamehub.accounts.errors import (
    IDENTITY,
    UserNotFound,
)
from gamehub.core.db import DbSession
from gamehub.core.money import to_major
from gamehub.core.openapi import PLAYER, PLAYER_OR_ANONYMOUS
from gamehub.core.pagination import (
    NEXT_CURSOR_HEADERS,
    Cursor,
    Limit,
    Since,
    Until,
    page_response,
    window,
)
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import WITH_BODY, ValidationError, error_responses
from gamehub.stats import schemas
from gamehub.stats.boards import Period, board
from gamehub.stats.errors import LeaderboardRebuilding
from gamehub.stats.leaderboard import Leaderboards, entry_out, page_body
from gamehub.stats.service import StatsService

# How far down a board one may page.
LEADERBOARD_DEPTH = 1_000_000

GameFilter = Annotated[
    str | None,
    QueryParameter(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$", description="A game's slug"),
]


async def _optional_identity(
    request: Request[Any, Any, Any], runtime: RuntimeDep
) -> Identity | None:
    """The caller if they sent credentials (which must then be valid); else anonymous."""
    if "authorization" not in request.headers and "x-api-token" not in request.headers:
        return None
    return await provide_identity(request, runtime)


class StatsController(Controller):
    tags = ["stats"]  # noqa: RUF012 - Litestar reads these as class attributes

    @get(
        "/stats",
        operation_id="get_stats",
        dependencies={"identity": Provide(provide_identity)},
        security=PLAYER,
        summary="The caller's totals, overall and per game",
        responses=error_responses(*IDENTITY),
    )
    async def own_stats(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.OwnStatsOut:
        return await runtime.replica.read(
            db_session,
            identity.user_id,
            lambda session: StatsService(session, runtime).own(identity.user_id),
        )

    @post(
        "/stats",
        operation_id="lookup_stats",
        security=PLAYER_OR_ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="A player's public stats (User Management seed form); wallet only for oneself",
        responses=error_responses(*IDENTITY, *WITH_BODY, UserNotFound),
    )
    async def public_stats(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.PublicStatsIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.PublicStatsOut:
        caller = await _optional_identity(request, runtime)
        caller_id = caller.user_id if caller else None
        return await runtime.replica.read(
            db_session,
            caller_id,
            lambda session: StatsService(session, runtime).public(data.username, caller_id),
        )

    @get(
        "/history",
        operation_id="get_history",
        dependencies={"identity": Provide(provide_identity)},
        security=PLAYER,
        # The seed's client reads a bare list: the next cursor is only in the header.
        summary="The caller's bets, newest first; the next page's cursor is in X-Next-Cursor",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*IDENTITY, ValidationError),
    )
    async def history(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
        game: GameFilter = None,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Response[list[schemas.HistoryItem]]:
        page = window(limit, cursor, since, until)
        items, cursor_out = await runtime.replica.read(
            db_session,
            identity.user_id,
            lambda session: StatsService(session, runtime).history(identity.user_id, page, game),
        )
        return page_response(items, cursor_out)


class LeaderboardController(Controller):
    path = "/leaderboard"
    tags = ["stats"]  # noqa: RUF012 - Litestar reads these as class attributes

    @get(
        "/",
        operation_id="get_leaderboard",
        # The body is served pre-encoded from the cache; this is its shape.
        responses={
            200: ResponseSpec(list[schemas.LeaderboardEntryOut], generate_examples=False),
            **error_responses(ValidationError, LeaderboardRebuilding),
        },
        # The seeds' clients read a bare list: the next cursor is only in the header.
        summary="Players ranked by earnings, ties sharing a rank; may be up to 5 minutes old",
        response_headers=NEXT_CURSOR_HEADERS,
    )
    async def leaderboard(
        self,
        runtime: RuntimeDep,
        limit: Limit = 10,
        cursor: Cursor = None,
        offset: Annotated[
            int | None,
            QueryParameter(
                ge=0, le=LEADERBOARD_DEPTH, description="Deprecated: use cursor instead"
            ),
        ] = None,
        period: Annotated[Period, QueryParameter()] = Period.ALL,
        game: GameFilter = None,
    ) -> Response[bytes]:
        # A ranked board pages by position: its cursor is the rank count already shown.
        start = window(limit, cursor, cursor_max=LEADERBOARD_DEPTH).after
        first = start if start is not None else offset or 0
        body, more = await page_body(
            runtime, board(period, game, runtime.clock.now()), first, limit
        )
        return page_response(body, str(first + limit) if more else None, media_type=MediaType.JSON)

    @get(
        "/me",
        operation_id="get_my_rank",
        dependencies={"identity": Provide(provide_identity)},
        security=PLAYER,
        summary="The caller's exact rank and the players just above and below",
        responses=error_responses(*IDENTITY, ValidationError, UserNotFound, LeaderboardRebuilding),
    )
    async def me(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
        period: Annotated[Period, QueryParameter()] = Period.ALL,
        game: GameFilter = None,
        neighbours: Annotated[int, QueryParameter(ge=0, le=10)] = 1,
    ) -> schemas.LeaderboardMeOut:
        on = board(period, game, runtime.clock.now())
        user = await load_user(db_session, identity)
        found = await Leaderboards(db_session, runtime).around(on, user.id, neighbours)
        me, above, below = found if found else (None, [], [])
        return schemas.LeaderboardMeOut(
            period=on.period.value,
            bucket=on.bucket,
            game=on.game,
            username=user.username,
            rank=me.rank if me else None,
            win_count=me.win_count if me else 0,
            loss_count=me.loss_count if me else 0,
            earnings=to_major(me.earnings) if me else 0.0,
            above=[entry_out(e) for e in above],
            below=[entry_out(e) for e in below],
        )

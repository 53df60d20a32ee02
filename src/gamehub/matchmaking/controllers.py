"""POST /update (matchmaking), POST /terminate (game servers), GET /sessions."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
from gamehub.core.openapi import SERVICE
from gamehub.core.pagination import (
    MAX_LIMIT,
    NEXT_CURSOR_HEADERS,
    Cursor,
    Limit,
    Since,
    Until,
    page_response,
    window,
)
from gamehub.core.params import INT32_MAX
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import (
    WITH_BODY,
    ValidationError,
    error_responses,
)
from gamehub.matchmaking import schemas
from gamehub.matchmaking.deps import CallerDep, provide_operator, require_scope
from gamehub.matchmaking.errors import (
    SERVICE_KEY,
    EarningsContradictOutcome,
    GameAlreadyTerminated,
    GameBeingRegistered,
    GameEnded,
    GameNotRegistered,
    InvalidServiceKey,
    NotAPlayer,
    OperatorsOnly,
    PayoutLimitExceeded,
    ReservedGameName,
    SettlementForbidden,
    TooManyPlayers,
    UnknownPlayers,
)
from gamehub.matchmaking.service import Matchmaking, Scope, session_out
from gamehub.wallet.errors import InsufficientFunds


class MatchmakingController(Controller):
    tags = ["matchmaking"]  # noqa: RUF012 - Litestar reads these as class attributes

    @post(
        "/update",
        operation_id="update_game",
        security=SERVICE,
        status_code=HTTP_200_OK,
        dependencies={"caller": require_scope(Scope.MATCHMAKING)},
        summary="Register or refresh a game session and its players (matchmaking key)",
        responses=error_responses(
            *SERVICE_KEY,
            *WITH_BODY,
            TooManyPlayers,
            UnknownPlayers,
            ReservedGameName,
            GameEnded,
            GameBeingRegistered,
        ),
    )
    async def update(
        self,
        caller: CallerDep,
        data: JSONBody[schemas.UpdateIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.UpdateOut:
        game = await Matchmaking(db_session, runtime).update(data)
        return schemas.UpdateOut(
            message=f"Game {game.game_id} updated successfully!", session=session_out(game)
        )

    @post(
        "/terminate",
        operation_id="terminate_game",
        security=SERVICE,
        status_code=HTTP_200_OK,
        dependencies={"caller": require_scope(Scope.GAME_SERVER)},
        summary="End a game and record its results once (game-server key)",
        responses=error_responses(
            *SERVICE_KEY,
            *WITH_BODY,
            GameNotRegistered,
            GameAlreadyTerminated,
            NotAPlayer,
            EarningsContradictOutcome,
            SettlementForbidden,
            PayoutLimitExceeded,
            ReservedGameName,
            InsufficientFunds,
        ),
    )
    async def terminate(
        self,
        caller: CallerDep,
        data: JSONBody[schemas.TerminateIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.TerminateOut:
        return await Matchmaking(db_session, runtime).terminate(
            data, caller.name, caller.max_payout_minor
        )

    @get(
        "/sessions",
        operation_id="list_sessions",
        security=SERVICE,
        dependencies={"caller": Provide(provide_operator)},
        summary="Active game sessions, newest first (service keys and administrators)",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*IDENTITY, ValidationError, InvalidServiceKey, OperatorsOnly),
    )
    async def sessions(
        self,
        caller: CallerDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = MAX_LIMIT,
    ) -> Response[schemas.SessionPage]:
        page = await Matchmaking(db_session, runtime).sessions(
            window(limit, cursor, since, until, cursor_max=INT32_MAX)
        )
        return page_response(page, page.next_cursor)

"""POST /update (matchmaking), POST /terminate (game servers), GET /sessions."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
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
        dependencies={"caller": Provide(provide_operator)},
        summary="Active game sessions (service keys and administrators)",
        responses=error_responses(*IDENTITY, ValidationError, InvalidServiceKey, OperatorsOnly),
    )
    async def sessions(
        self,
        caller: CallerDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[schemas.SessionOut]:
        return await Matchmaking(db_session, runtime).sessions(limit, offset)

"""POST /update (matchmaking), POST /terminate (game servers), GET /sessions."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from gamehub.core.db import DbSession
from gamehub.core.openapi import SERVICE
from gamehub.core.runtime import RuntimeDep
from gamehub.matchmaking import schemas
from gamehub.matchmaking.deps import CallerDep, provide_operator, require_scope
from gamehub.matchmaking.service import Matchmaking, Scope, session_out


class MatchmakingController(Controller):
    tags = ["matchmaking"]  # noqa: RUF012 - Litestar reads these as class attributes

    @post(
        "/update",
        operation_id="update_game",
        security=SERVICE,
        status_code=HTTP_200_OK,
        dependencies={"caller": require_scope(Scope.MATCHMAKING)},
        summary="Register or refresh a game session and its players (matchmaking key)",
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
        summary="Active game sessions (service keys and administrators)",
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

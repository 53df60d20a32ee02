"""create_app(): routes, dependencies, error handlers and the process-wide runtime."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from gamehub import __version__
from gamehub.accounts.controllers import AuthController, MeController
from gamehub.accounts.deps import provide_runtime
from gamehub.accounts.tasks import login_failure_purger
from gamehub.composition import start_runtime
from gamehub.core import edge, openapi
from gamehub.core.clock import Clock
from gamehub.core.db import (
    close_abandoned_session,
    handle_unexpected_or_unavailable,
    provide_db_session,
)
from gamehub.core.idempotency import exception_handlers as idempotency_replays
from gamehub.core.idempotency import purger
from gamehub.core.requests import ExactJSONRequest, refuse_nul_in_url
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import error_responses, exception_handlers
from gamehub.games.controllers import FairnessController, GamesController, PlayController
from gamehub.games.tasks import turn_clock
from gamehub.matchmaking.controllers import MatchmakingController
from gamehub.payments.controllers import MpesaCallbackController, PaymentsController
from gamehub.payments.tasks import reconciler
from gamehub.realtime.asgi import ASGIApp, StreamHandoff
from gamehub.realtime.controllers import EventsController
from gamehub.settings import Settings, get_settings
from gamehub.stats.controllers import LeaderboardController, StatsController
from gamehub.stats.tasks import leaderboard_snapshots
from gamehub.wallet.controllers import WalletController


@get(
    "/health",
    operation_id="get_health",
    tags=["operations"],
    summary="Liveness and database reachability (a probe at most a second old)",
    responses=error_responses(),
)
async def health(runtime: RuntimeDep) -> dict[str, str | int]:
    await runtime.db.check_reachable(runtime.settings.health_probe_seconds)
    # The worker's process id tells operators (and tests) which worker answered.
    return {"status": "ok", "version": __version__, "worker": os.getpid()}


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    """``clock``: the runtime's, the real one unless a test brings its own."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, clock=clock)
        app.state.runtime = runtime
        try:
            async with (
                reconciler(runtime),
                turn_clock(runtime),
                purger(runtime),
                login_failure_purger(runtime),
                leaderboard_snapshots(runtime),
            ):
                yield
        finally:
            await runtime.close()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return Litestar(
        route_handlers=[
            health,
            AuthController,
            MeController,
            WalletController,
            PaymentsController,
            MpesaCallbackController,
            GamesController,
            PlayController,
            FairnessController,
            EventsController,
            StatsController,
            LeaderboardController,
            MatchmakingController,
            edge.docs_assets(),
        ],
        request_class=ExactJSONRequest,
        before_request=refuse_nul_in_url,
        after_exception=[close_abandoned_session],
        before_send=[edge.security_headers(settings)],
        cors_config=edge.cors_config(settings),
        dependencies={
            "db_session": Provide(provide_db_session),
            "runtime": Provide(provide_runtime, sync_to_thread=False),
        },
        # A database outage answers 503 wherever it surfaces, not 500.
        exception_handlers={
            **exception_handlers,
            **idempotency_replays,
            Exception: handle_unexpected_or_unavailable,
        },
        lifespan=[lifespan],
        request_max_body_size=settings.max_request_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Game Hub",
            version=__version__,
            path=edge.DOCS_PATH,
            render_plugins=[edge.swagger_ui()],
            components=openapi.components(),
            operation_id_creator=openapi.operation_id,
        ),
        debug=False,
    )


def served_app() -> ASGIApp:
    """The factory ``gamehub serve`` gives granian."""
    app: ASGIApp = create_app()  # type: ignore[assignment]
    return StreamHandoff(app)

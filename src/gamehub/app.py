"""create_app(): routes, dependencies, error handlers and the process-wide runtime."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

import msgspec
from litestar import Litestar, Response, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from gamehub import __version__
from gamehub.accounts.controllers import AuthController, MeController
from gamehub.accounts.deps import provide_runtime
from gamehub.accounts.tasks import login_failure_purger
from gamehub.admin.controllers import AdminController, AdminGamesController, MyDataController
from gamehub.composition import start_runtime
from gamehub.core import edge, metrics, openapi
from gamehub.core.clock import Clock
from gamehub.core.db import (
    close_abandoned_session,
    handle_unexpected_or_unavailable,
    provide_db_session,
)
from gamehub.core.idempotency import exception_handlers as idempotency_replays
from gamehub.core.idempotency import purger
from gamehub.core.logs import configure_logging
from gamehub.core.observe import ObservedRequests
from gamehub.core.requests import ExactJSONRequest, refuse_nul_in_url
from gamehub.core.runtime import RuntimeDep
from gamehub.core.shutdown import on_stop_signal
from gamehub.errors import DatabaseUnavailable, NotReady, error_responses, exception_handlers
from gamehub.games.controllers import FairnessController, GamesController, PlayController
from gamehub.games.tasks import turn_clock
from gamehub.matchmaking.controllers import MatchmakingController
from gamehub.payments.controllers import MpesaCallbackController, PaymentsController
from gamehub.payments.tasks import payment_gauges, reconciler
from gamehub.protection.controllers import ResponsibleGamingController
from gamehub.realtime.asgi import ASGIApp, StreamHandoff
from gamehub.realtime.controllers import EventsController
from gamehub.settings import Settings, get_settings
from gamehub.stats.controllers import LeaderboardController, StatsController
from gamehub.stats.tasks import leaderboard_snapshots
from gamehub.wallet.controllers import WalletController
from gamehub.wallet.tasks import ledger_checks
from gamehub.web import client_assets, client_page


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


class Alive(msgspec.Struct):
    status: str


class Ready(msgspec.Struct):
    status: str
    # "ok", or "not configured" for Redis on a server that runs without it.
    database: str
    redis: str


@get(
    "/healthz",
    operation_id="get_liveness",
    tags=["operations"],
    summary="Liveness: the process answers (it asks nothing else)",
    responses=error_responses(),
)
async def healthz() -> Alive:
    return Alive("ok")


@get(
    "/readyz",
    operation_id="get_readiness",
    tags=["operations"],
    summary="Readiness: the database and Redis answer; 503 names what is down",
    responses=error_responses(NotReady),
)
async def readyz(runtime: RuntimeDep) -> Ready:
    down = []
    try:
        await runtime.db.check_reachable(runtime.settings.health_probe_seconds)
    except DatabaseUnavailable:
        down.append("database")
    redis_configured = runtime.settings.redis_url is not None
    if redis_configured and not await runtime.cache.reachable():
        down.append("redis")
    if down:
        raise NotReady(down)
    return Ready("ok", database="ok", redis="ok" if redis_configured else "not configured")


# Prometheus's text format for a scraper, not part of the client API (docs/operations.md).
@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint() -> Response[bytes]:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    stop_on_signals: bool = False,
) -> Litestar:
    """``clock``: the runtime's, the real one unless a test brings its own.
    ``stop_on_signals``: end the event streams on SIGTERM or SIGINT, for a server that
    waits for every response to end before it stops (docs/lifecycle.md)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, clock=clock)
        app.state.runtime = runtime
        signals: AbstractContextManager[None] = (
            on_stop_signal(runtime.events.end_streams) if stop_on_signals else nullcontext()
        )
        try:
            async with (
                reconciler(runtime),
                turn_clock(runtime),
                purger(runtime),
                login_failure_purger(runtime),
                leaderboard_snapshots(runtime),
                ledger_checks(runtime),
                payment_gauges(runtime),
            ):
                with signals:
                    yield
                # Under a server that runs the lifespan's end first, streams end here.
                runtime.events.end_streams()
        finally:
            await runtime.close()

    configure_logging(as_json=settings.logs_as_json, level=settings.log_level)
    app = Litestar(
        route_handlers=[
            health,
            healthz,
            readyz,
            metrics_endpoint,
            AuthController,
            MeController,
            MyDataController,
            AdminController,
            AdminGamesController,
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
            ResponsibleGamingController,
            edge.docs_assets(),
            client_page,
            client_assets,
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
        # Every line is ours (gamehub.core.logs), in one format.
        logging_config=None,
    )
    # Around Litestar's own handler, as Litestar wraps CORS: every response, a 404 or a
    # 500 included, gets its request id, access line and metrics (gamehub.core.observe).
    inner: Any = app.asgi_handler
    observed: Any = ObservedRequests(inner, access_log=settings.access_log)
    app.asgi_handler = observed
    return app


def served_app() -> ASGIApp:
    """The factory ``gamehub serve`` gives granian."""
    app: ASGIApp = create_app(stop_on_signals=True)  # type: ignore[assignment]
    return StreamHandoff(app)

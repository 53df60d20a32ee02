"""What the platform tells browsers: which other origins may call it (CORS), the
security headers of every response, and the API viewer, served from a Python package's
bundled Swagger UI rather than a CDN, so that /docs works on a machine without internet.
"""

from __future__ import annotations

from litestar import Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import BeforeMessageSendHookHandler, Message, Scope
from swagger_ui_bundle import swagger_ui_path

from gamehub.core.idempotency import HEADER as IDEMPOTENCY_KEY
from gamehub.core.idempotency import REPLAYED_HEADER
from gamehub.core.pagination import NEXT_CURSOR
from gamehub.settings import Settings

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"

# What a browser game on an allowed origin sends besides a simple request's headers...
REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    IDEMPOTENCY_KEY,
    "X-API-Token",
    "X-Service-Key",
    "Last-Event-ID",
]
# ...and the response headers its scripts may read.
RESPONSE_HEADERS = ["Retry-After", REPLAYED_HEADER, NEXT_CURSOR, "WWW-Authenticate"]


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS for the configured origins, or none at all: without the headers a browser
    keeps pages of other origins from reading any answer. Credentials are bearer
    tokens, never cookies, so no origin is given cookies either."""
    if not settings.cors_allowed_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_allowed_origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=REQUEST_HEADERS,
        expose_headers=RESPONSE_HEADERS,
        allow_credentials=False,
        max_age=600,
    )


def security_headers(settings: Settings) -> BeforeMessageSendHookHandler:
    """A before-send hook that puts the security headers on every response, error
    responses and unknown paths included (it runs outside the routes)."""
    headers = {
        # A JSON body is never to be sniffed into HTML or a script.
        "X-Content-Type-Options": "nosniff",
        # URLs can carry an SSE ticket or a reset token: they go nowhere else.
        "Referrer-Policy": "no-referrer",
        # No page may frame ours (clickjacking); X-Frame-Options for older browsers.
        "Content-Security-Policy": "frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
    }
    if settings.behind_tls:
        # Only where every request arrives over HTTPS: a browser told this over plain
        # HTTP on a deployment without TLS would be locked out for max-age.
        headers["Strict-Transport-Security"] = (
            f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"
        )

    # As ASGI carries them, encoded once: this runs on every response.
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            present = message.get("headers") or []
            names = {name.lower() for name, _ in present}
            # A response that set one of them itself keeps its own.
            message["headers"] = [*present, *(pair for pair in raw if pair[0] not in names)]

    return add_headers


def swagger_ui() -> SwaggerRenderPlugin:
    """Swagger UI at /docs, its script, styles and icon served by us from
    :func:`docs_assets`."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def docs_assets() -> Router:
    """Swagger UI's files, as the swagger-ui-bundle-v2 package ships them."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_path],
        name="docs_assets",
        include_in_schema=False,
        # A version's files never change; a new version comes with a new package.
        cache_control=CacheControlHeader(max_age=24 * 3600),
    )

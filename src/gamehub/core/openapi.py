"""The OpenAPI document's shared parts: how callers authenticate, what each kind of
route asks for, operation ids that read as method names, and the SSE response.

Security requirements are declared where a route's credential check is wired (the
controller or the route), from the lists below; tests/test_openapi.py walks the
document and holds every operation to them.
"""

from __future__ import annotations

from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.types import Method
from litestar.types.internal_types import PathParameterDefinition

BEARER = "bearer"
API_TOKEN = "apiToken"
SERVICE_KEY = "serviceKey"
EVENT_TICKET = "eventTicket"

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description=(
            "The access token from /register, /login or /token/refresh. An API token "
            "(gh_…) or a service key (ghs_…) may be presented the same way."
        ),
    ),
    API_TOKEN: SecurityScheme(
        type="apiKey",
        name="X-API-Token",
        security_scheme_in="header",
        description="A long-lived API token from POST /api-token.",
    ),
    SERVICE_KEY: SecurityScheme(
        type="apiKey",
        name="X-Service-Key",
        security_scheme_in="header",
        description="A matchmaking or game-server key (ghs_…), issued by an operator.",
    ),
    EVENT_TICKET: SecurityScheme(
        type="apiKey",
        name="ticket",
        security_scheme_in="query",
        description="A single-use ticket from POST /events/ticket, for EventSource.",
    ),
}

# A player: an access token, or an API token in either header.
PLAYER: list[SecurityRequirement] = [{BEARER: []}, {API_TOKEN: []}]
# Anyone; a player who sends credentials is recognised (and must send valid ones).
PLAYER_OR_ANONYMOUS: list[SecurityRequirement] = [{}, *PLAYER]
# A player's event stream: their credentials, or a ticket bought with them.
PLAYER_OR_TICKET: list[SecurityRequirement] = [*PLAYER, {EVENT_TICKET: []}]
# A service key (either header), or an administrator's access token where allowed.
SERVICE: list[SecurityRequirement] = [{SERVICE_KEY: []}, {BEARER: []}]

EVENT_STREAM = "text/event-stream"


def event_stream(description: str) -> ResponseSpec:
    """The 200 of an SSE route: a stream of the events listed in docs/events.md."""
    return ResponseSpec(
        data_container=str,
        media_type=EVENT_STREAM,
        generate_examples=False,
        description=f"{description} Event names and payloads: docs/events.md.",
    )


def components() -> Components:
    return Components(security_schemes=dict(SECURITY_SCHEMES))


def operation_id(
    route_handler: HTTPRouteHandler,
    http_method: Method | HttpMethod,
    path_components: list[str | PathParameterDefinition],
) -> str:
    """The handler's name (or the ``operation_id`` a route sets), as a client method.

    A handler serving several paths (a seed's alias beside the canonical one) names the
    first; each alias adds its own last path word, so that every id stays unique.
    """
    name = route_handler.handler_name
    path = "/" + "/".join(c if isinstance(c, str) else "{" + c.name + "}" for c in path_components)
    paths = sorted(route_handler.paths)
    if len(paths) > 1 and not path.endswith(paths[0].rstrip("/")):
        words = [c for c in path_components if isinstance(c, str) and c]
        name = f"{name}_{words[-1]}".replace("-", "_")
    return name

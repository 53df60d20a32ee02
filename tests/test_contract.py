"""The published contract: docs/openapi.json is the document the code builds, and every
operation in it is complete enough for a generated client to use as it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from gamehub import contract
from gamehub.app import create_app
from gamehub.realtime.events import CATALOG
from gamehub.settings import Settings
from tests.support.api import Client

METHODS = ("get", "post", "put", "patch", "delete")
# Every POST that moves money, and so must accept Idempotency-Key. (/terminate moves
# game earnings too, but a game server's game_id is its key: it settles once per game.)
MONEY_MOVING = {
    "/deposit",
    "/withdraw",
    "/games/spin-and-win/play",
    "/games/join",
    "/games/leave",
    "/games/pull-trigger",
    "/games/place-bet",
    "/games/cancel-bet",
}
# Routes that check credentials in the handler rather than through a dependency: the
# event stream (a header or a ticket) and the seed's stats look-up (anonymous allowed).
CHECKED_IN_HANDLER = {"connect_events", "connect_events_connect", "lookup_stats"}
# The admin routes check roles in a guard, which hands the operator on as "staff".
AUTH_DEPENDENCIES = {"identity", "caller", "staff"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return contract.openapi_document()


@pytest.fixture(scope="module")
def handlers() -> dict[tuple[str, str], HTTPRouteHandler]:
    """Each documented operation's handler, by (method, path as the document writes it)."""
    app: Litestar = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    found = {}
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                for method in handler.http_methods:
                    found[(method.lower(), path)] = handler
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_docs_openapi_json_is_the_document_the_code_builds() -> None:
    on_disk = (contract.DOCS / contract.OPENAPI_FILE).read_text(encoding="utf-8")
    assert on_disk == contract.openapi_json(), "docs/openapi.json is stale: run `make docs`"


async def test_the_server_serves_the_same_document(client: Client) -> None:
    served = await client.get("/docs/openapi.json")
    assert served.status_code == 200
    assert served.json() == contract.openapi_document()


def test_every_operation_has_a_typed_success_response(document: dict[str, Any]) -> None:
    untyped = []
    for method, path, operation in operations(document):
        success = {k: v for k, v in operation["responses"].items() if k.startswith("2")}
        typed = bool(success)
        for status, response in success.items():
            for media_type, content in (response.get("content") or {}).items():
                schema = content.get("schema") or {}
                if media_type == "text/event-stream":
                    continue
                if not schema or schema == {"type": "string"}:
                    typed = False
            if not response.get("content") and status != "204":
                typed = False
        if not typed:
            untyped.append(f"{method.upper()} {path}")
    assert untyped == []


def test_the_event_streams_are_documented_as_event_streams(document: dict[str, Any]) -> None:
    streams = ["/events", "/events/connect", "/games/roulette/{roulette_id}/events"]
    for path in streams:
        success = document["paths"][path]["get"]["responses"]["200"]
        assert list(success["content"]) == ["text/event-stream"], path
        assert "docs/events.md" in success["description"]


def test_every_route_that_needs_credentials_declares_them(
    document: dict[str, Any], handlers: dict[tuple[str, str], HTTPRouteHandler]
) -> None:
    schemes = set(document["components"]["securitySchemes"])
    assert schemes == {"bearer", "apiToken", "serviceKey", "eventTicket"}
    wrong = []
    for method, path, operation in operations(document):
        handler = handlers[(method, path)]
        needs_auth = bool(AUTH_DEPENDENCIES & set(handler.resolve_dependencies()))
        security = operation.get("security")
        declared = {name for requirement in security or [] for name in requirement}
        assert declared <= schemes, (method, path)
        anonymous_allowed = security is None or {} in security
        if needs_auth and anonymous_allowed:
            wrong.append(f"{method.upper()} {path}: needs credentials, declares none")
        if not needs_auth and security and operation["operationId"] not in CHECKED_IN_HANDLER:
            wrong.append(f"{method.upper()} {path}: declares credentials it does not check")
    assert wrong == []


async def test_a_secured_route_refuses_a_caller_without_credentials(
    client: Client, document: dict[str, Any]
) -> None:
    for method, path, operation in operations(document):
        security = operation.get("security")
        if method != "get" or "{" in path or not security or {} in security:
            continue
        response = await client.get(path)
        assert response.status_code == 401, (path, response.text)


def test_every_money_moving_post_takes_an_idempotency_key(document: dict[str, Any]) -> None:
    for path in MONEY_MOVING:
        parameters = document["paths"][path]["post"].get("parameters", [])
        keys = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert [(k["in"], k["required"]) for k in keys] == [("header", False)], path


def test_operation_ids_read_as_method_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i)] == []
    for expected in ("login", "get_wallet", "play_spin", "join_roulette", "deposit"):
        assert expected in ids


def test_every_amount_is_a_number_in_requests_and_responses(document: dict[str, Any]) -> None:
    amount_names = {"amount", "bet_amount", "stake", "balance", "new_balance", "win_amount"}
    strings = []
    for name, schema in document["components"]["schemas"].items():
        for field, prop in (schema.get("properties") or {}).items():
            if field in amount_names:
                types = {prop.get("type")} | {arm.get("type") for arm in prop.get("oneOf", [])}
                if "string" in types or "number" not in types:
                    strings.append(f"{name}.{field}")
    assert strings == []


def test_every_request_body_has_an_example(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    bare = []
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        ref = schema.get("$ref", "")
        properties = schemas[ref.rsplit("/", 1)[-1]].get("properties", {}) if ref else {}
        if properties and not any("examples" in p for p in properties.values()):
            bare.append(f"{method.upper()} {path}")
    assert bare == []


def test_every_operation_declares_its_errors(document: dict[str, Any]) -> None:
    """Each operation lists the errors it can answer, with the body they really have."""
    undeclared = []
    for method, path, operation in operations(document):
        errors = {k: v for k, v in operation["responses"].items() if k[0] in "45"}
        real = [
            status
            for status, response in errors.items()
            if _error_shaped(document, response.get("content", {}).get("application/json", {}))
        ]
        if not real or len(real) != len(errors):
            undeclared.append(f"{method.upper()} {path}")
    assert undeclared == []


def _error_shaped(document: dict[str, Any], content: dict[str, Any]) -> bool:
    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            found: dict[str, Any] = document["components"]["schemas"][
                schema["$ref"].rsplit("/", 1)[-1]
            ]
            return found
        return schema

    schema = resolved(content.get("schema", {}))
    arms = [resolved(arm) for arm in schema.get("oneOf", [schema])]
    return all({"error", "detail"} <= set(arm.get("properties", {})) for arm in arms)


def test_docs_events_md_is_generated_from_the_event_structs() -> None:
    on_disk = (contract.DOCS / contract.EVENTS_FILE).read_text(encoding="utf-8")
    assert on_disk == contract.events_markdown(), "docs/events.md is stale: run `make docs`"


# Where an event's name is passed, by the callee's name: its position among the arguments.
_NAME_ARGUMENT = {"publish_after_commit": 2, "_publish": 1, "publish": 0, "Outgoing": 0}


def test_every_event_the_code_publishes_is_in_the_catalog() -> None:
    source = Path(contract.__file__).parent
    published = set()
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else None
            callee = callee or (node.func.id if isinstance(node.func, ast.Name) else None)
            position = _NAME_ARGUMENT.get(callee or "")
            if position is None or len(node.args) <= position:
                continue
            argument = node.args[position]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                published.add(argument.value)
    assert {"bet_update", "trigger_result", "leaderboard_update"} <= published
    assert published - {spec.name for spec in CATALOG} == set()

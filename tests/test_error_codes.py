"""Errors are named: every one has a stable code, a meaning in docs/errors.md, and a
schema on the routes that declare it; the framework's own refusals have codes too."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from litestar import Litestar

import gamehub
from gamehub.errors import GamehubError, all_errors
from gamehub.errors_doc import DOCUMENT, render
from tests.support.api import Client, bearer, register

SOURCE = Path(gamehub.__file__).parent
# Where a generic base is raised on purpose: the seed's clients expect its very body.
GENERIC_ON_PURPOSE = {("accounts/controllers.py", "BadRequest")}


def _raised_names() -> set[tuple[str, str]]:
    """(file, class name) of every ``raise Name(...)`` or ``raise Name`` in src."""
    found = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Attribute):
                target = ast.Name(target.attr)
            if isinstance(target, ast.Name):
                found.add((str(path.relative_to(SOURCE)), target.id))
    return found


def _errors_by_name(app: Litestar) -> dict[str, type[GamehubError]]:
    render(app)  # imports every module that defines errors
    return {e.__name__: e for e in all_errors() if e.__module__.startswith("gamehub.")}


def test_docs_errors_md_is_generated_from_the_classes(app: Litestar) -> None:
    assert DOCUMENT.read_text() == render(app), "stale: run python -m gamehub.errors_doc"


def test_every_error_raised_in_src_has_a_documented_code(app: Litestar) -> None:
    errors = _errors_by_name(app)
    document = DOCUMENT.read_text()
    raised = {name for _, name in _raised_names() if name in errors}
    assert len(raised) > 80
    for name in sorted(raised):
        error = errors[name]
        assert error.meaning(), f"{name} has no docstring to say what it means"
        assert f"| `{error.code()}` | {error.status_code} |" in document, name


def test_codes_are_the_class_names_and_unique(app: Litestar) -> None:
    errors = _errors_by_name(app)
    assert all(error.code() == name for name, error in errors.items())


def test_a_generic_base_is_raised_only_where_a_seed_pins_its_body(app: Litestar) -> None:
    errors = _errors_by_name(app)
    generic = {
        (where, name)
        for where, name in _raised_names()
        if name in errors and errors[name].__subclasses__()
    }
    assert generic == GENERIC_ON_PURPOSE


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _error_components(schema: dict[str, Any], response: dict[str, Any]) -> list[dict[str, Any]]:
    body = response["content"]["application/json"]["schema"]
    refs = [body] if "$ref" in body else body["oneOf"]
    return [schema["components"]["schemas"][r["$ref"].rsplit("/", 1)[1]] for r in refs]


async def test_every_route_declares_its_errors_with_the_body_we_send(client: Client) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    operations = _operations(schema)
    assert len(operations) > 40
    for method, path, operation in operations:
        errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
        # Every route can meet a NUL in its URL, a fault of ours and a database outage.
        assert {"400", "500", "503"} <= set(errors), (method, path)
        for status, response in errors.items():
            for component in _error_components(schema, response):
                properties = component["properties"]
                # Not the framework's default {status_code, detail, extra}.
                assert "status_code" not in properties, (method, path, status)
                assert properties["error"]["const"] == component["title"]
                assert {"error", "detail"} <= set(component["required"])


async def test_structured_fields_are_in_the_schema(client: Client) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    play = schema["paths"]["/games/spin-and-win/play"]["post"]["responses"]
    titles = {c["title"]: c for c in _error_components(schema, play["422"])}
    assert {"StakeOutOfRange", "ValidationError", "IdempotencyKeyReused"} <= set(titles)
    assert {"minimum", "maximum"} <= set(titles["StakeOutOfRange"]["properties"])
    conflicts = {c["title"] for c in _error_components(schema, play["409"])}
    assert {"InsufficientFunds", "GameClosed", "IdempotencyKeyInUse"} <= conflicts
    pull = schema["paths"]["/games/pull-trigger"]["post"]["responses"]
    assert {"NotYourTurn", "GameNotInProgress"} <= {
        c["title"] for c in _error_components(schema, pull["409"])
    }


async def test_the_frameworks_refusals_have_codes(client: Client) -> None:
    unknown = await client.get("/no/such/route")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "RouteNotFound", "detail": "No route has this path"}
    wrong_method = await client.delete("/login")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "MethodNotAllowed"
    nul = await client.get("/leaderboard?game=spin%00")
    assert nul.status_code == 400
    assert nul.json() == {"error": "MalformedUrl", "detail": "The URL holds a NUL character (%00)"}


async def test_query_and_path_parameters_are_explained_in_plain_words(client: Client) -> None:
    for path, field, detail in (
        ("/leaderboard?limit=abc", "limit", "limit: must be a whole number, not text"),
        ("/leaderboard?limit=0", "limit", "limit: must be a whole number at least 1"),
        (
            "/leaderboard?period=century",
            "period",
            "period: must be one of 'all', 'day', 'week', 'month', not 'century'",
        ),
        (
            f"/games/roulette/{2**31}",
            "roulette_id",
            "roulette_id: must be a whole number at most 2147483647",
        ),
    ):
        response = await client.get(path)
        assert response.status_code == 422, path
        assert response.json() == {"error": "ValidationError", "detail": detail, "field": field}


async def test_a_pattern_is_explained_by_its_description(client: Client) -> None:
    response = await client.post("/register", json={"username": "has space", "password": "x" * 9})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "username: must be 3 to 50 letters, digits, '_', '.' or '-'"
    )


async def test_nested_fields_are_named_by_their_path(client: Client) -> None:
    account = await register(client)
    response = await client.put(
        "/fairness/client-seed", headers=bearer(account["access_token"]), json={}
    )
    assert response.json() == {
        "error": "ValidationError",
        "detail": "client_seed: is required",
        "field": "client_seed",
    }

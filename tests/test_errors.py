"""One JSON error shape everywhere, and no internals in a 500."""

from __future__ import annotations

import httpx
from litestar import Litestar, get

from gamehub.errors import exception_handlers
from tests.support.api import Client


async def test_unknown_routes_are_json_404(client: Client) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"error": "RouteNotFound", "detail": "No route has this path"}


async def test_wrong_methods_are_json_405(client: Client) -> None:
    response = await client.delete("/login")
    assert response.status_code == 405
    assert response.json()["error"] == "MethodNotAllowed"


async def test_health_reports_the_database(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_openapi_ui_and_schema_are_served(client: Client) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/docs/openapi.json")).json()
    assert "/register" in schema["paths"]


async def test_an_unexpected_error_is_a_json_500_without_internals() -> None:
    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app = Litestar([boom], exception_handlers=exception_handlers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "InternalServerError",
        "detail": "An unexpected error occurred",
    }
    assert "hunter2" not in response.text

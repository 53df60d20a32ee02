"""What browsers are told: CORS only for the configured origins, the security headers
on every response, HSTS only behind TLS, and /docs complete without internet."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.api import register

GAME = "https://play.example.com"
PREFLIGHT = {
    "Origin": GAME,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
}


async def test_cors_is_off_unless_configured(client: httpx.AsyncClient) -> None:
    preflight = await client.options("/games/spin-and-win/play", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    answer = await client.get("/health", headers={"Origin": GAME})
    assert "access-control-allow-origin" not in answer.headers


async def test_an_allowed_origin_may_call_the_api(app_factory: Any) -> None:
    async with app_factory(cors_allowed_origins=[GAME]) as client:
        preflight = await client.options("/games/spin-and-win/play", headers=PREFLIGHT)
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == GAME
        allowed = preflight.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "idempotency-key"):
            assert header in allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        # Bearer tokens, never cookies: no origin is given credentials.
        assert "access-control-allow-credentials" not in preflight.headers

        account = await register(client)
        answer = await client.get(
            "/profile",
            headers={"Origin": GAME, "Authorization": f"Bearer {account['access_token']}"},
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == GAME
        assert "retry-after" in answer.headers["access-control-expose-headers"].lower()


async def test_another_origin_is_refused(app_factory: Any) -> None:
    async with app_factory(cors_allowed_origins=[GAME]) as client:
        stranger = {**PREFLIGHT, "Origin": "https://evil.example.net"}
        preflight = await client.options("/games/spin-and-win/play", headers=stranger)
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers
        answer = await client.get("/health", headers={"Origin": "https://evil.example.net"})
        assert "access-control-allow-origin" not in answer.headers


def test_an_origin_setting_must_be_an_origin() -> None:
    from pydantic import ValidationError

    from gamehub.settings import Settings

    for wrong in ("play.example.com", "https://play.example.com/lobby"):
        with pytest.raises(ValidationError, match="GAMEHUB_CORS_ALLOWED_ORIGINS"):
            Settings(_env_file=None, cors_allowed_origins=wrong)  # type: ignore[call-arg]


@pytest.mark.parametrize("path", ["/health", "/no-such-route", "/docs"])
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers


async def test_behind_tls_responses_carry_hsts(app_factory: Any) -> None:
    async with app_factory(behind_tls=True, hsts_max_age_seconds=86400) as client:
        for path in ("/health", "/no-such-route"):
            response = await client.get(path)
            assert response.headers["strict-transport-security"] == (
                "max-age=86400; includeSubDomains"
            )


async def test_the_docs_load_only_what_this_server_serves(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
    }
    # Nothing from another host (a CDN): every asset is a path of ours, and is served.
    assert "://" not in page.text.split("<body", 1)[0]
    for asset in assets:
        assert asset.startswith("/docs/assets/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 0
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"]
    assert b"SwaggerUIBundle" in script.content
    # The spec the page renders is inline, and the OpenAPI document is served too.
    assert (await client.get("/docs/openapi.json")).status_code == 200

"""No input answers 500: every one that did is now a 4xx, on whichever backend runs.

Ids no column can hold, cursors that only look numeric, text no backend can store
(invalid UTF-8, NUL), and validly signed tokens whose subject is not a user id.
"""

from __future__ import annotations

import jwt
import pytest

from gamehub.core.runtime import Runtime
from tests.support.api import Client, bearer, register

TOO_BIG = "99999999999999999999"
PAST_BIGINT = str(2**63)
PAST_INTEGER = str(2**31)
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "path",
    [
        "/history?cursor=%C2%B2",  # a superscript two: str.isdigit() says yes, int() no
        f"/history?cursor={TOO_BIG}",
        "/wallet/transactions?cursor=%C2%B2",
        f"/wallet/transactions?cursor={TOO_BIG}",
        "/wallet/transactions?cursor=-1",
        f"/games/roulette/{TOO_BIG}",
        f"/games/roulette/{PAST_INTEGER}",
        f"/games/roulette/{TOO_BIG}/events",
        f"/fairness/verify/{PAST_BIGINT}",
        f"/deposits/{PAST_INTEGER}",
        "/deposits/99999999999",
        "/withdrawals/99999999999",
        "/user/%00",
        "/leaderboard?game=spin%00",
    ],
)
async def test_out_of_range_ids_and_cursors_and_nul_in_the_url_are_4xx(
    client: Client, path: str
) -> None:
    account = await register(client)
    response = await client.get(path, headers=bearer(account["access_token"]))
    assert 400 <= response.status_code < 500, response.text
    assert {"error", "detail"} <= set(response.json())


async def test_the_largest_ids_the_columns_hold_are_merely_not_found(client: Client) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    for path in (
        f"/games/roulette/{2**31 - 1}",
        f"/fairness/verify/{2**63 - 1}",
        f"/deposits/{2**31 - 1}",
        f"/withdrawals/{2**31 - 1}",
    ):
        assert (await client.get(path, headers=headers)).status_code == 404, path
    page = await client.get(f"/wallet/transactions?cursor={2**63 - 1}", headers=headers)
    assert page.status_code == 200
    assert page.json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "\xff\xfe", "password": "Tr1cky-Marmot-42"}',
        b'{"username": "abc", "password": "ab\\u0000c-Marmot-42"}',
        b'{"username": "abc", "password": "Tr1cky-Marmot-42", "email": "a\\u0000@b.example"}',
        b'{"username\\u0000": "abc", "password": "Tr1cky-Marmot-42"}',
    ],
)
@pytest.mark.parametrize("path", ["/register", "/login", "/create_user"])
async def test_bodies_with_invalid_utf8_or_nul_are_400(
    client: Client, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "MalformedJson"


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(client: Client) -> None:
    # "\\u0000" is a backslash followed by "u0000": six ordinary characters.
    body = b'{"username": "abc", "password": "Tr1cky-Marmot-\\\\u0000"}'
    response = await client.post("/login", content=body, headers=JSON)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/games/pull-trigger", {"roulette_id": int(TOO_BIG)}),
        ("/games/leave", {"game_id": int(TOO_BIG)}),
        ("/games/join", {"game_id": int(TOO_BIG)}),
        (
            "/games/place-bet",
            {"roulette_id": 1, "player_id": 2**31, "bet_type": "survival", "bet_amount": 1},
        ),
    ],
)
async def test_out_of_range_ids_in_bodies_are_422(
    client: Client, path: str, body: dict[str, object]
) -> None:
    account = await register(client)
    response = await client.post(path, json=body, headers=bearer(account["access_token"]))
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("subject", ["abc", "²", TOO_BIG, PAST_INTEGER, "-1", " 1", "1.0", 1, None])
async def test_a_validly_signed_token_whose_subject_is_no_user_id_is_401(
    client: Client, runtime: Runtime, subject: object
) -> None:
    account = await register(client)
    claims = jwt.decode(account["access_token"], options={"verify_signature": False})
    claims["sub"] = subject
    settings = runtime.settings
    forged = jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)
    response = await client.get("/me", headers=bearer(forged))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "InvalidAccessToken"


async def test_a_request_refused_by_its_identity_gives_its_connection_back(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    claims = jwt.decode(account["access_token"], options={"verify_signature": False})
    # Validly signed, for a user that does not exist: refused after the database was
    # asked, by a dependency resolved after the request's session.
    claims["sub"] = str(2**31 - 1)
    settings = runtime.settings
    token = jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)
    for _ in range(3):
        assert (await client.get("/me", headers=bearer(token))).status_code == 401
    assert runtime.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]

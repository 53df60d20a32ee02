"""Every response carries its request id, and every request leaves one JSON access line
that names its route by template, its status, latency and caller, never its raw path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar, get

from gamehub.core.logs import formatter
from gamehub.realtime.asgi import StreamHandoff
from tests.support.api import bearer, register
from tests.support.sse import AsgiStream


class JsonLines(logging.Handler):
    """What the app's JSON formatter writes, one parsed line per record."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(formatter(as_json=True))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def access(self) -> list[dict[str, object]]:
        return [line for line in self.lines if line.get("logger") == "gamehub.access"]


@pytest.fixture
def logs() -> Iterator[JsonLines]:
    handler = JsonLines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


async def test_a_callers_request_id_comes_back_and_names_its_log_lines(
    client: httpx.AsyncClient, logs: JsonLines
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "edge-42.a"})
    assert response.headers["x-request-id"] == "edge-42.a"
    [line] = logs.access()
    assert line["request_id"] == "edge-42.a"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/healthz", 200)
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert "timestamp" in line


async def test_without_a_usable_id_each_response_gets_a_fresh_one(
    client: httpx.AsyncClient,
) -> None:
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    # Text that is no id (too long, or with spaces and quotes) is replaced, not echoed.
    for offered in ("x" * 129, 'a "quoted" id'):
        answered = (await client.get("/healthz", headers={"X-Request-ID": offered})).headers
        assert answered["x-request-id"] != offered
        assert len(answered["x-request-id"]) == 32


async def test_errors_carry_the_id_too_and_unmatched_paths_share_one_route_label(
    app: Litestar, client: httpx.AsyncClient, logs: JsonLines
) -> None:
    @get("/test-only/explode", sync_to_thread=False)
    def explode() -> None:
        raise RuntimeError("boom")

    app.register(explode)
    failed = await client.get("/test-only/explode", headers={"X-Request-ID": "r-500"})
    assert failed.status_code == 500
    assert failed.headers["x-request-id"] == "r-500"
    missing = await client.get("/no/such/path/secret-value", headers={"X-Request-ID": "r-404"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "r-404"
    by_id = {line["request_id"]: line for line in logs.lines if "request_id" in line}
    # The unexpected error's own log line belongs to its request.
    errors = [line for line in logs.lines if line.get("logger") == "gamehub.errors"]
    assert [e["request_id"] for e in errors] == ["r-500"]
    assert "exception" in errors[0]
    assert (by_id["r-404"]["route"], by_id["r-404"]["status"]) == ("unmatched", 404)
    assert all("secret-value" not in json.dumps(line) for line in logs.lines)


async def test_an_authenticated_request_names_its_user_and_never_its_query(
    client: httpx.AsyncClient, logs: JsonLines
) -> None:
    account = await register(client)
    logs.lines.clear()
    response = await client.get(
        f"/user/{account['username']}",
        params={"token": "query-secret-1"},
        headers=bearer(account["access_token"]),
    )
    assert response.status_code == 200
    assert (await client.get("/me", headers=bearer(account["access_token"]))).status_code == 200
    lines = logs.access()
    assert [line["route"] for line in lines] == ["/user/{name}", "/me"]
    assert lines[1]["user_id"] == account["id"]
    assert "query-secret-1" not in json.dumps(logs.lines)
    assert account["access_token"] not in json.dumps(logs.lines)


async def test_the_access_log_can_be_turned_off(app_factory: object, logs: JsonLines) -> None:
    async with app_factory(access_log=False) as quiet:  # type: ignore[operator]
        response = await quiet.get("/healthz")
    assert response.headers["x-request-id"]
    assert logs.access() == []


async def test_a_handed_off_event_stream_carries_its_request_id(
    app: Litestar, client: httpx.AsyncClient, logs: JsonLines
) -> None:
    account = await register(client)
    headers = {**bearer(account["access_token"]), "X-Request-ID": "stream-7"}
    async with AsgiStream(StreamHandoff(app), "/events/connect", headers) as stream:
        assert stream.status == 200
        assert stream.headers["x-request-id"] == "stream-7"
        assert (await stream.next_event()).event == "connected"
    [line] = [line for line in logs.access() if line["request_id"] == "stream-7"]
    assert (line["route"], line["status"], line["user_id"]) == (
        "/events/connect",
        200,
        account["id"],
    )


def test_console_lines_are_for_a_person_and_json_lines_for_a_machine() -> None:
    record = logging.LogRecord("gamehub.test", logging.WARNING, __file__, 1, "%d left", (3,), None)
    console = formatter(as_json=False).format(record)
    assert "3 left" in console
    assert "gamehub.test" in console
    assert not console.startswith("{")
    line = json.loads(formatter(as_json=True).format(record))
    assert (line["event"], line["level"], line["logger"]) == ("3 left", "warning", "gamehub.test")

"""``gamehub serve --workers 2``: GET /metrics counts what every worker did, whichever
worker answers the scrape, and a served stream is counted while it is open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import unique_name
from tests.support.server import running_server


@pytest.fixture(scope="module")
def server(database_url: str, redis_url: str | None) -> Iterator[str]:
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: several workers require Redis")
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_URL": redis_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('metrics')}:",
        "GAMEHUB_JWT_SECRET": "multi-worker-metrics-secret-" + "m" * 32,
    }
    with running_server(env, workers=2) as base_url:
        yield base_url


def _worker(client: httpx.Client) -> int:
    return int(client.get("/health").json()["worker"])


def _value(client: httpx.Client, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


def test_a_scrape_on_either_worker_counts_the_requests_both_served(server: str) -> None:
    one = httpx.Client(base_url=server, timeout=10)
    spare: list[httpx.Client] = []
    try:
        first = _worker(one)
        for _ in range(100):
            other = httpx.Client(base_url=server, timeout=10)
            spare.append(other)
            if _worker(other) != first:
                break
        else:
            pytest.fail("100 connections all reached the same worker")
        labels = {"method": "GET", "route": "/healthz", "status": "200"}
        before = _value(one, "gamehub_http_responses_total", **labels)
        assert _value(other, "gamehub_http_responses_total", **labels) == before
        for client in (one, other, other):
            assert client.get("/healthz").status_code == 200
        # Each worker served some; each one's scrape counts all three.
        assert _worker(one) != _worker(other)
        assert _value(one, "gamehub_http_responses_total", **labels) == before + 3
        assert _value(other, "gamehub_http_responses_total", **labels) == before + 3
    finally:
        one.close()
        for client in spare:
            client.close()

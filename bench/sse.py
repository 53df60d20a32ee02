"""The SSE rows of the suite: bench/sse_fanout.py (its own server on one worker, its own
SQLite room) at 1,000 and 5,000 clients, through its ``run(clients, broadcasts)``."""

from __future__ import annotations

import asyncio
import inspect
import os
import statistics
import traceback
from typing import Any

from bench import sse_fanout
from bench.measure import Row, Sample, Summary, Target, percentile

BROADCASTS = 20
BASELINE_CLIENTS = 100
# The bar at 5,000 clients: publish to last delivery p99 under 1 s, under 40 KB
# (40,000 bytes) of server memory per connection.
MAX_BYTES_PER_CONNECTION = 40_000


def fanout(clients: int, broadcasts: int, redis_url: str) -> dict[str, float]:
    """sse_fanout's figures: its ``run(clients, broadcasts) -> dict`` when it has one;
    otherwise its older ``run(clients, baseline, broadcasts, redis_url)``, turned into
    the same keys (memory per connection from the server's resident set at ``clients``
    against ``BASELINE_CLIENTS``)."""
    runner: Any = sse_fanout.run
    if list(inspect.signature(runner).parameters)[:3] != ["clients", "baseline", "broadcasts"]:
        result = runner(clients, broadcasts)
        if inspect.isawaitable(result):
            result = asyncio.run(result)  # type: ignore[arg-type]
        return dict(result)
    # Its server takes our environment: lift the admission limits of anonymous
    # watchers, which this older form predates (a fan-out is measured, not them).
    limits = {
        "GAMEHUB_SSE_MAX_WATCHERS_PER_ADDRESS": str(clients),
        "GAMEHUB_SSE_MAX_STREAMS_PER_WORKER": str(clients),
    }
    saved = {name: os.environ.get(name) for name in limits}
    os.environ.update(limits)
    try:
        few, many = asyncio.run(runner(clients, BASELINE_CLIENTS, broadcasts, redis_url))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    extra_bytes = (many.rss_mib - few.rss_mib) * 1024 * 1024
    return {
        "p50_ms": percentile(many.latencies_ms, 50),
        "p99_ms": percentile(many.latencies_ms, 99),
        "last_delivery_p50_ms": statistics.median(many.completions_ms),
        "last_delivery_p99_ms": percentile(many.completions_ms, 99),
        "bytes_per_connection": extra_bytes / (clients - BASELINE_CLIENTS),
        "connect_seconds": many.connect_seconds,
    }


def row(clients: int, redis_url: str) -> Row:
    print(f"== sse_{clients} ({BROADCASTS} broadcasts)", flush=True)
    target = (
        Target(max_p99_ms=1000, limits=(("bytes_per_connection", MAX_BYTES_PER_CONNECTION),))
        if clients >= 5000
        else Target()
    )
    try:
        figures = fanout(clients, BROADCASTS, redis_url)
        errors = 0
    except Exception:
        traceback.print_exc()
        figures, errors = {}, 1
    sample = Sample(
        count=clients if figures else 0,
        seconds=1.0,
        p50_ms=figures.get("last_delivery_p50_ms"),
        p99_ms=figures.get("last_delivery_p99_ms"),
        errors=errors,
    )
    return Row(
        f"sse_{clients}",
        "clients",
        "-",
        Summary.of([sample]),
        None,
        target,
        samples=[sample],
        extra=figures,
    )

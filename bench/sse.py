"""The SSE rows of the suite: bench/sse_fanout.py (its own server on one worker, its own
SQLite room) at 1,000 and 5,000 clients, through its ``run(clients, broadcasts)``."""

from __future__ import annotations

import traceback

from bench import sse_fanout
from bench.measure import Row, Sample, Summary, Target

BROADCASTS = 20
BASELINE_CLIENTS = 100
# The bar at 5,000 clients: publish to last delivery p99 under 1 s, under 40 KB
# (40,000 bytes) of server memory per connection.
MAX_BYTES_PER_CONNECTION = 40_000


def fanout(clients: int, broadcasts: int, redis_url: str) -> dict[str, float]:
    """sse_fanout's figures for ``clients`` against its 100-client baseline."""
    return sse_fanout.run(clients, broadcasts, redis_url=redis_url)


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

"""Prometheus metrics of the process, and of every worker together under ``gamehub serve``.

``gamehub serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before its workers start: each worker
then writes its samples to files there, and ``GET /metrics`` on any worker adds up all of
them (prometheus-client's multiprocess mode), so a scrape sees the whole server whichever
worker answers. Without it (tests, a bare ``granian`` or ``uvicorn``) the process's own
registry answers. Every metric is described in docs/operations.md.

Money is counted in minor units (cents), as everywhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Litestar adds the charset to a text/ media type itself.
CONTENT_TYPE = CONTENT_TYPE_LATEST.removesuffix("; charset=utf-8")

# A `_created` sample beside every series doubles what a scrape carries and tells nothing
# a counter's reset does not (and multiprocess mode never has them).
disable_created_metrics()  # type: ignore[no-untyped-call]

# Requests, by route template (never the raw path, which may hold a secret).
REQUEST_SECONDS = Histogram(
    "gamehub_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (an event stream: its headers)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESPONSES = Counter(
    "gamehub_http_responses",
    "Responses sent, by route template and status",
    ["method", "route", "status"],
)

# Games: committed facts only (counted after the commit that settled the bet).
BETS = Counter("gamehub_bets", "Bets settled (won or lost; refunded ones are not)", ["game"])
WAGERED = Counter(
    "gamehub_wagered_minor", "Stakes of the settled bets, in minor units", ["game", "currency"]
)
PAID_OUT = Counter(
    "gamehub_paid_out_minor",
    "What the settled bets paid their players, in minor units",
    ["game", "currency"],
)

# Payments: each committed move of a deposit or a withdrawal into a status.
PAYMENTS = Counter(
    "gamehub_payments",
    "Deposits and withdrawals that reached a status (once per status reached)",
    ["kind", "status"],
)
# Counted from the database by a periodic job: the latest count, whichever worker took it.
PAYMENTS_UNKNOWN = Gauge(
    "gamehub_payments_unknown",
    "Payments whose outcome at M-Pesa is unknown (being asked about)",
    ["kind"],
    multiprocess_mode="mostrecent",
)
PAYMENTS_NEEDS_REVIEW = Gauge(
    "gamehub_payments_needs_review",
    "Payments waiting for an operator (gamehub payments review)",
    ["kind"],
    multiprocess_mode="mostrecent",
)

# Event streams open now, summed over the live workers: a player's own, or a watcher's.
SSE_CONNECTIONS = Gauge(
    "gamehub_sse_connections",
    "Event streams open now",
    ["kind"],
    multiprocess_mode="livesum",
)

# Background jobs (core.jobs): every round of a periodic job, and the rounds that failed.
JOB_RUNS = Counter("gamehub_job_runs", "Rounds of a background job", ["job"])
JOB_FAILURES = Counter("gamehub_job_failures", "Rounds of a background job that failed", ["job"])

# The periodic ledger check (wallet.verify): the latest result, whichever worker ran it.
LEDGER_PROBLEMS = Gauge(
    "gamehub_ledger_problems",
    "Ledger invariants broken at the last check, by kind (0 everywhere is healthy)",
    ["problem"],
    multiprocess_mode="mostrecent",
)


def enable_multiprocess(directory: Path) -> None:
    """Write every sample to files in ``directory``, for this process and the workers it
    forks (``gamehub serve``, before granian starts them).

    prometheus-client chooses where values live when it is imported, and the command
    line has imported it by then; every metric here has labels, so none has a value yet
    (a value is made when a metric is first labelled, in a worker, after this)."""
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def exposition() -> bytes:
    """The text ``GET /metrics`` answers: every worker's samples added up, or this
    process's own."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _forget_dead_workers(directory: Path) -> None:
    """A worker that died (and was respawned) leaves its files behind: its counters must
    still count, its live gauges (open streams) must not. granian tells no hook of a
    worker's death, so whoever answers a scrape looks for files of processes gone."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

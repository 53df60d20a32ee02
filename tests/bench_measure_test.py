"""The bench's arithmetic: reading wrk's and pgbench's reports, medians over rounds,
ratios to the baseline and the targets. No timing is measured or asserted here."""

from __future__ import annotations

import pytest
from bench.measure import (
    Row,
    Sample,
    Summary,
    Target,
    parse_pgbench_failures,
    parse_pgbench_log,
    parse_wrk,
    percentile,
    wrk_sample,
)

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8000
  2 threads and 16 connections
  301 requests in 3.02s, 120.00KB read
BENCH_JSON {"requests": 301, "duration_us": 3020000, "connect": 0, "read": 1, "write": 0, \
"status": 2, "timeout": 0, "p50_us": 41200, "p99_us": 98500, "max_us": 120000}
"""


def test_wrk_report_becomes_a_sample_with_every_kind_of_error_counted() -> None:
    sample = wrk_sample(parse_wrk(WRK_OUTPUT), server_cpu_s=1.505, generator_cpu_s=0.301)
    assert sample.count == 301
    assert sample.seconds == pytest.approx(3.02)
    assert sample.rate == pytest.approx(301 / 3.02)
    assert (sample.p50_ms, sample.p99_ms) == (pytest.approx(41.2), pytest.approx(98.5))
    assert sample.errors == 3
    assert sample.server_cpu_ms_per_op == pytest.approx(5.0)
    assert sample.generator_cpu_ms_per_op == pytest.approx(1.0)


def test_wrk_output_without_the_report_is_refused() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_wrk("unable to connect to 127.0.0.1:8000 Connection refused\n")


def test_pgbench_log_and_failures() -> None:
    lines = ["0 1 2250 0 1764590000 123", "1 7 failed 0 1764590000 456", "3 2 750 0 1 2", ""]
    assert parse_pgbench_log(lines) == [2.25, 0.75]
    assert parse_pgbench_failures("number of failed transactions: 4 (0.010%)\n") == 4
    assert parse_pgbench_failures("tps = 3000.1 (without initial connection time)\n") == 0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0


def test_rounds_summarise_by_median_and_errors_add_up() -> None:
    samples = [
        Sample(100, 10.0, 5.0, 20.0, errors=1, server_cpu_s=1.0),
        Sample(300, 10.0, 3.0, 9.0, errors=0, server_cpu_s=1.5),
        Sample(200, 10.0, 4.0, 30.0, errors=2, server_cpu_s=4.0),
    ]
    summary = Summary.of(samples)
    assert summary.rate == 20.0
    assert (summary.p50_ms, summary.p99_ms) == (4.0, 20.0)
    assert summary.errors == 3
    # Medians of per-round figures: 10, 5 and 20 ms of CPU per request.
    assert summary.server_cpu_ms_per_op == 10.0
    assert summary.generator_cpu_ms_per_op is None
    assert summary.rounds == 3


def _row(rate: float, baseline_rate: float | None, p99: float, errors: int, target: Target) -> Row:
    scenario = Summary.of([Sample(int(rate * 10), 10.0, 1.0, p99, errors=errors)])
    baseline = None
    if baseline_rate is not None:
        baseline = Summary.of([Sample(int(baseline_rate * 10), 10.0)])
    return Row("spin", "req/s", "pgbench bet", scenario, baseline, target)


def test_ratio_and_targets() -> None:
    target = Target(min_ratio=0.25, max_p99_ms=50)
    met = _row(800, 3000, 40, 0, target)
    assert met.ratio == pytest.approx(800 / 3000)
    assert met.misses == []
    assert _row(700, 3000, 40, 0, target).misses == ["ratio"]
    assert _row(800, 3000, 50, 0, target).misses == ["p99"]
    assert _row(800, 3000, 40, 1, target).misses == ["errors"]
    # No baseline: no ratio, so a ratio target is missed rather than met by default.
    assert _row(800, None, 40, 0, target).misses == ["ratio"]
    assert target.describe() == ">=0.25x p99<50ms 0 err"


def test_limits_on_extra_figures() -> None:
    target = Target(max_p99_ms=1000, limits=(("bytes_per_connection", 40_000),))
    row = _row(5000, None, 900, 0, target)
    row.extra = {"bytes_per_connection": 39_000.0}
    assert row.misses == []
    row.extra = {"bytes_per_connection": 45_000.0}
    assert row.misses == ["bytes_per_connection"]
    row.extra = {}
    assert row.misses == ["bytes_per_connection"]
    assert row.to_json()["met"] is False

"""What one round measured, how rounds and a baseline become a row, and the issue's
targets. Pure: no processes, no sockets, so that it can be tested on its own."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

WRK_MARKER = "BENCH_JSON "


@dataclass(frozen=True, slots=True)
class Sample:
    """One round of one load: ``count`` operations (requests, transactions, games,
    hashes) in ``seconds``."""

    count: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    # CPU seconds the measured server's workers spent in the round; None when the load
    # is not served by a process of ours (pgbench, the hashing ceiling).
    server_cpu_s: float | None = None
    # CPU seconds of the load generator (wrk, pgbench, our driver) in the round.
    generator_cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_ms_per_op(self) -> float | None:
        if self.server_cpu_s is None or self.count == 0:
            return None
        return 1000 * self.server_cpu_s / self.count

    @property
    def generator_cpu_ms_per_op(self) -> float | None:
        if self.generator_cpu_s is None or self.count == 0:
            return None
        return 1000 * self.generator_cpu_s / self.count


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the value below which p% of ``values`` lie)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass(frozen=True, slots=True)
class Summary:
    """Rounds of one load, by their medians; errors are summed."""

    rate: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    server_cpu_ms_per_op: float | None
    generator_cpu_ms_per_op: float | None
    rounds: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        if not samples:
            raise ValueError("no rounds")
        return cls(
            rate=statistics.median(s.rate for s in samples),
            p50_ms=_median([s.p50_ms for s in samples]),
            p99_ms=_median([s.p99_ms for s in samples]),
            errors=sum(s.errors for s in samples),
            server_cpu_ms_per_op=_median([s.server_cpu_ms_per_op for s in samples]),
            generator_cpu_ms_per_op=_median([s.generator_cpu_ms_per_op for s in samples]),
            rounds=len(samples),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """The issue's bar for one row: a least ratio to the baseline and/or a greatest
    p99 (of the row's own ``p99_ms``), and always zero errors."""

    min_ratio: float | None = None
    max_p99_ms: float | None = None
    # Upper bounds on figures the row carries in ``extra``: (key, bound).
    limits: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f">={self.min_ratio:g}x")
        if self.max_p99_ms is not None:
            parts.append(f"p99<{self.max_p99_ms:g}ms")
        parts.extend(f"{key}<{bound:g}" for key, bound in self.limits)
        parts.append("0 err")
        return " ".join(parts)

    def missed(
        self,
        ratio: float | None,
        p99_ms: float | None,
        errors: int,
        extra: dict[str, Any] | None = None,
    ) -> list[str]:
        """What the row misses; empty when it meets every part."""
        misses = []
        if self.min_ratio is not None and (ratio is None or ratio < self.min_ratio):
            misses.append("ratio")
        if self.max_p99_ms is not None and (p99_ms is None or p99_ms >= self.max_p99_ms):
            misses.append("p99")
        for key, bound in self.limits:
            value = (extra or {}).get(key)
            if value is None or value >= bound:
                misses.append(key)
        if errors:
            misses.append("errors")
        return misses


@dataclass(slots=True)
class Row:
    """One scenario against its baseline, as printed and written to JSON."""

    name: str
    unit: str
    baseline_name: str
    scenario: Summary
    baseline: Summary | None
    target: Target
    samples: list[Sample] = field(default_factory=list)
    baseline_samples: list[Sample] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.rate <= 0:
            return None
        return self.scenario.rate / self.baseline.rate

    @property
    def misses(self) -> list[str]:
        return self.target.missed(
            self.ratio, self.scenario.p99_ms, self.scenario.errors, self.extra
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "baseline_name": self.baseline_name,
            "scenario": asdict(self.scenario),
            "baseline": None if self.baseline is None else asdict(self.baseline),
            "ratio": self.ratio,
            "target": asdict(self.target),
            "met": not self.misses,
            "misses": self.misses,
            "rounds": [_round_json(s) for s in self.samples],
            "baseline_rounds": [_round_json(s) for s in self.baseline_samples],
            **({"extra": self.extra} if self.extra else {}),
        }


def _round_json(sample: Sample) -> dict[str, Any]:
    return {**asdict(sample), "rate": sample.rate}


def parse_wrk(output: str) -> dict[str, float]:
    """The report our wrk script's ``done`` prints (bench/wrk/requests.lua)."""
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            parsed: dict[str, float] = json.loads(line[len(WRK_MARKER) :])
            return parsed
    raise ValueError(f"no {WRK_MARKER.strip()} line in wrk's output:\n{output}")


def wrk_sample(
    report: dict[str, float], server_cpu_s: float | None, generator_cpu_s: float | None
) -> Sample:
    errors = sum(int(report[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return Sample(
        count=int(report["requests"]),
        seconds=report["duration_us"] / 1e6,
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        errors=errors,
        server_cpu_s=server_cpu_s,
        generator_cpu_s=generator_cpu_s,
    )


_PGBENCH_FAILED = re.compile(r"number of failed transactions: (\d+)")


def parse_pgbench_failures(output: str) -> int:
    """pgbench 15's count of failed transactions (0 when the line is absent)."""
    found = _PGBENCH_FAILED.search(output)
    return int(found.group(1)) if found else 0


def parse_pgbench_log(lines: Sequence[str]) -> list[float]:
    """Latencies in ms from pgbench's per-transaction log (``-l``): each line is
    ``client_id transaction_no latency_us script_no epoch epoch_us``; a failed
    transaction's latency is written as "failed" or "skipped"."""
    latencies = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[2].isdigit():
            latencies.append(int(parts[2]) / 1000)
    return latencies

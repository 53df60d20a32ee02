"""The runtime's clock: the real one in service, a hand-moved one in tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gamehub.core.clock import ManualClock, SystemClock
from gamehub.core.runtime import Runtime


def test_the_system_clock_reads_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_a_manual_clock_moves_only_when_told_and_both_readings_together() -> None:
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == start
    assert clock.now() == start
    before = clock.monotonic()
    clock.advance(90)
    assert (clock.now() - start).total_seconds() == 90
    assert clock.monotonic() - before == 90


def test_a_manual_clock_does_not_go_back() -> None:
    with pytest.raises(ValueError, match="does not go back"):
        ManualClock().advance(-1)


async def test_the_app_runs_on_the_system_clock_unless_given_one(runtime: Runtime) -> None:
    assert isinstance(runtime.clock, SystemClock)

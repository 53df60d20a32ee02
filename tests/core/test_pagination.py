"""The one date grammar and page window every list route parses its query with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gamehub.core.pagination import next_cursor, parse_moment, window
from gamehub.errors import ValidationFailed

NAIROBI = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("text", "upper", "moment"),
    [
        ("2026-11-22", False, datetime(2026, 11, 22, tzinfo=UTC)),
        # As an upper bound a bare date keeps its whole day.
        ("2026-11-22", True, datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-22T18:00:00Z", True, datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T18:00:00z", False, datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T18:00:00", False, datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T21:00:00+03:00", False, datetime(2026, 11, 22, 21, tzinfo=NAIROBI)),
        ("2026-11-22 18:00", False, datetime(2026, 11, 22, 18, tzinfo=UTC)),
    ],
)
def test_a_date_or_a_time_is_read_in_utc_unless_it_says_otherwise(
    text: str, upper: bool, moment: datetime
) -> None:
    assert parse_moment(text, "until", upper=upper) == moment


@pytest.mark.parametrize("text", ["soon", "2026-13-01", "2026-02-30", "22/11/2026", "T18:00"])
def test_anything_else_names_the_parameter_and_the_grammar(text: str) -> None:
    with pytest.raises(ValidationFailed, match=r"^since: not a date \(2026-11-22\)"):
        parse_moment(text, "since")


def test_nothing_given_is_no_bound() -> None:
    assert parse_moment(None, "since") is None
    assert parse_moment("", "since") is None
    assert window(20, None) == window(20, "")


def test_a_window_must_be_able_to_hold_a_row() -> None:
    with pytest.raises(ValidationFailed, match="until: must be after since"):
        window(10, None, "2026-11-22", "2026-11-21")
    with pytest.raises(ValidationFailed, match="until: must be after since"):
        window(10, None, "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z")
    # The same day as both bounds is that whole day.
    day = window(10, None, "2026-11-22", "2026-11-22")
    assert (day.since, day.until) == (
        datetime(2026, 11, 22, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )


def test_a_cursor_is_what_a_page_gave_and_nothing_else() -> None:
    assert window(10, "41").after == 41
    for bad in ("x", "-1", "4.2", "²", "3" * 25):
        with pytest.raises(ValidationFailed, match=r"^cursor: use the X-Next-Cursor"):
            window(10, bad)
    with pytest.raises(ValidationFailed):
        window(10, str(2**31), cursor_max=2**31 - 1)


def test_the_next_cursor_exists_only_when_more_rows_came_than_were_shown() -> None:
    assert next_cursor(rows=11, limit=10, last=7) == "7"
    assert next_cursor(rows=10, limit=10, last=7) is None
    assert next_cursor(rows=0, limit=10, last=None) is None

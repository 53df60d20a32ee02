"""Integers from text: ASCII digits only, bounded to the column they are compared with."""

from __future__ import annotations

import pytest

from gamehub.core.params import INT32_MAX, INT64_MAX, parse_bounded_int, parse_cursor
from gamehub.errors import ValidationError


def test_ascii_digits_up_to_the_bound_are_integers() -> None:
    assert parse_bounded_int("0", INT32_MAX) == 0
    assert parse_bounded_int("42", INT32_MAX) == 42
    assert parse_bounded_int(str(INT32_MAX), INT32_MAX) == INT32_MAX
    assert parse_bounded_int(str(INT64_MAX), INT64_MAX) == INT64_MAX


@pytest.mark.parametrize(
    "text", ["", "²", "٣", "-1", "+1", " 1", "1 ", "1.0", "1e3", str(INT32_MAX + 1), "9" * 5000]
)
def test_anything_else_is_not(text: str) -> None:
    assert parse_bounded_int(text, INT32_MAX) is None


def test_a_cursor_is_absent_an_id_or_refused_with_the_hint() -> None:
    assert parse_cursor(None, "hint") is None
    assert parse_cursor("", "hint") is None
    assert parse_cursor("17", "hint") == 17
    with pytest.raises(ValidationError, match="cursor: use the last id"):
        parse_cursor(str(INT64_MAX + 1), "use the last id")

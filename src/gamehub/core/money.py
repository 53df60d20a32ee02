"""Money is an integer count of minor units; these convert at the API's edge, never via float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MINOR_PER_MAJOR = 100


def to_major(minor: int) -> float:
    """For JSON responses: exact for any balance below 2**53 minor units."""
    return minor / MINOR_PER_MAJOR


def parse_major(value: object) -> int:
    """Parse a JSON number or numeric string of major units with at most 2 decimals.

    Raises ValueError with a message fit for the client on anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number or a numeric string")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError("must be a number or a numeric string") from exc
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("must have at most 2 decimal places")
    return int(amount * MINOR_PER_MAJOR)

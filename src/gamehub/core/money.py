"""Money is an integer count of minor units; these convert at the API's edge, never via float.

Request bodies are decoded with JSON numbers as Decimal (see ``gamehub.app``), so an
amount arrives here exactly as the client wrote it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from litestar.openapi.spec.enums import OpenAPIType
from msgspec import Meta

from gamehub.errors import ValidationError

MINOR_PER_MAJOR = 100

# Amounts in request bodies, as the API documents every amount: a JSON number of major
# units with at most two decimals (10.5 is KES 10.50), the form responses use too. A
# numeric string is still read the same way, for the seeds' clients that send one.
# ("extra" is what Litestar lays over the schema it derives from Decimal, a string.)
_AMOUNT = "Major units, at most 2 decimals"
Amount = Annotated[
    Decimal,
    Meta(
        description=_AMOUNT,
        examples=[10],
        extra_json_schema={"extra": {"type": OpenAPIType.NUMBER, "exclusive_minimum": 0}},
    ),
]
OptionalAmount = Annotated[
    Decimal | None,
    Meta(
        description=_AMOUNT,
        examples=[10],
        extra_json_schema={
            "extra": {"one_of": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]}
        },
    ),
]
# A signed amount (a game's earnings: negative for a loss).
SignedAmount = Annotated[
    Decimal,
    Meta(
        description=_AMOUNT + "; negative for a loss",
        examples=[-10],
        extra_json_schema={"extra": {"type": OpenAPIType.NUMBER}},
    ),
]


def to_major(minor: int) -> float:
    """For JSON responses: exact to the cent for any amount below 2**53 minor units."""
    return minor / MINOR_PER_MAJOR


def format_major(minor: int) -> str:
    """For messages: 1050 minor units read "10.50"."""
    return f"{to_major(minor):.2f}"


def whole_major(minor: int) -> int | None:
    """The amount in whole major units (what M-Pesa moves), None if it has cents."""
    whole, cents = divmod(minor, MINOR_PER_MAJOR)
    return None if cents else whole


def from_whole_major(major: int) -> int:
    """Minor units of an amount given in whole major units (M-Pesa's "KES 150")."""
    return major * MINOR_PER_MAJOR


def parse_major(value: object, *, maximum_minor: int) -> int:
    """Minor units from a number or numeric string of major units, at most 2 decimals.

    Raises ValueError, with a message fit for the client, on zero, negative, non-numeric,
    non-finite, over-precise or too large amounts.
    """
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError("must be a number or a numeric string")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise ValueError("must be a number or a numeric string") from exc
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount <= 0:
        raise ValueError("must be greater than zero")
    if amount > Decimal(maximum_minor) / MINOR_PER_MAJOR:
        raise ValueError(f"must be at most {Decimal(maximum_minor) / MINOR_PER_MAJOR:.2f}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("must have at most 2 decimal places")
    return int(amount * MINOR_PER_MAJOR)


def amount_field(value: object, field: str, *, maximum_minor: int) -> int:
    """``parse_major`` for a request field: a bad amount is a 422 naming the field."""
    try:
        return parse_major(value, maximum_minor=maximum_minor)
    except ValueError as exc:
        raise ValidationError.of(field, str(exc)) from exc

"""Integers from the outside world, bounded to the columns they are compared with.

A path id of 99999999999999999999 is a well-formed integer that no backend can bind
(PostgreSQL refuses it as int4, SQLite cannot hold it): left alone it reaches the
driver and answers 500. Bounding it at the edge answers 4xx instead, and the same
bounds serve the cursors that arrive as text.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar.params import PathParameter
from msgspec import Meta

from gamehub.errors import ValidationError

# The largest values of SQL INTEGER (users, rooms, payments) and BIGINT (bets, ledger).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# A row id in the path. The lower bound is 0, not 1: an id no row has is a 404, as
# before; only ids no column can hold are refused.
IdPath: TypeAlias = Annotated[int, PathParameter(ge=0, le=INT32_MAX)]
BigIdPath: TypeAlias = Annotated[int, PathParameter(ge=0, le=INT64_MAX)]
# The same bound on an id in a request body.
Id: TypeAlias = Annotated[int, Meta(ge=0, le=INT32_MAX, examples=[42])]


def parse_bounded_int(text: str, maximum: int) -> int | None:
    """``text`` as a non-negative integer of at most ``maximum``, or None.

    Only ASCII digits count: ``str.isdigit`` also accepts "²" and other digits that
    ``int`` then refuses.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def parse_cursor(cursor: str | None, hint: str, maximum: int = INT64_MAX) -> int | None:
    """A page cursor (the id of the last row of the previous page), or None for the first
    page; anything else is refused with ``hint`` on where a cursor comes from."""
    if cursor is None or cursor == "":
        return None
    value = parse_bounded_int(cursor, maximum)
    if value is None:
        raise ValidationError.of("cursor", hint)
    return value

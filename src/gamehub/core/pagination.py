"""One convention for every list route.

The same parameters everywhere: ``limit``, ``cursor``, and, where rows have a time,
``since`` and ``until`` in one date grammar (a bare date is a whole UTC day, or a full
ISO 8601 date and time). The next page's cursor is always in the ``X-Next-Cursor``
header, absent on the last page; a route whose body is a page object carries it in
``next_cursor`` too (the seed routes keep their bare lists, so the header is the one
place every client can read it). A cursor is opaque: pass back what a page gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeAlias

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.params import QueryParameter

from gamehub.core.params import INT64_MAX, parse_cursor
from gamehub.errors import ValidationError

NEXT_CURSOR = "X-Next-Cursor"
MAX_LIMIT = 100
_CURSOR_HINT = f"use the {NEXT_CURSOR} (or next_cursor) of the previous page"

Limit: TypeAlias = Annotated[
    int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}")
]
Cursor: TypeAlias = Annotated[
    str | None,
    QueryParameter(
        max_length=20, description=f"Where the page starts: the previous page's {NEXT_CURSOR}"
    ),
]
Since: TypeAlias = Annotated[
    str | None,
    QueryParameter(
        max_length=40,
        description="From this moment on: 2026-11-22 (from that day's start, UTC) "
        "or 2026-11-22T18:00:00Z",
    ),
]
Until: TypeAlias = Annotated[
    str | None,
    QueryParameter(
        max_length=40,
        description="Up to this moment: 2026-11-22 (that whole day included, UTC) "
        "or 2026-11-22T18:00:00Z (excluded)",
    ),
]

# Declared on every list route, so that a client's generated code knows of it.
NEXT_CURSOR_HEADERS = [
    ResponseHeader(
        name=NEXT_CURSOR,
        documentation_only=True,
        required=False,
        description="The cursor of the next page; absent on the last page",
    )
]


def parse_moment(value: str | None, name: str, *, upper: bool = False) -> datetime | None:
    """A bare date or an ISO 8601 date and time, UTC unless it says otherwise.

    As an ``upper`` bound a bare date means the end of that day, so ``until=2026-11-22``
    keeps the 22nd; a bound with a time is exclusive."""
    if value is None or value == "":
        return None
    try:
        if len(value) == len("2026-11-22"):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if upper else moment
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise ValidationError.of(
            name, "not a date (2026-11-22) or an ISO 8601 time (2026-11-22T18:00:00Z)"
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A page request, checked: ``after`` is the cursor's position (None: the first
    page), ``since`` inclusive and ``until`` exclusive."""

    limit: int
    after: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def window(
    limit: int,
    cursor: str | None,
    since: str | None = None,
    until: str | None = None,
    *,
    cursor_max: int = INT64_MAX,
) -> Window:
    start = parse_moment(since, "since")
    end = parse_moment(until, "until", upper=True)
    if start is not None and end is not None and end <= start:
        raise ValidationError.of("until", "must be after since")
    return Window(limit, parse_cursor(cursor, _CURSOR_HINT, cursor_max), start, end)


def next_cursor(rows: int, limit: int, last: int | None) -> str | None:
    """The cursor after a page read with ``limit + 1`` rows: only if there is more."""
    return str(last) if rows > limit and last is not None else None


def page_response(content: Any, cursor: str | None, **kwargs: Any) -> Response[Any]:
    """``content`` with the next page's cursor in the header every list route uses."""
    headers = {} if cursor is None else {NEXT_CURSOR: cursor}
    return Response(content, headers=headers, **kwargs)


def unknown_value(name: str, known: list[str]) -> ValidationError:
    """A filter naming nothing that exists: a 422, never an empty page that reads as
    "nothing happened"."""
    return ValidationError.of(name, "must be one of " + ", ".join(sorted(known)))

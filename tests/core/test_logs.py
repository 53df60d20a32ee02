"""A line written on every request (:func:`write_line`) is the line structlog writes for
the same fields: same keys, same request context, same level filter, to the same handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from gamehub.core.logs import (
    configure_logging,
    enter_request,
    formatter,
    get_logger,
    leave_request,
    note_user,
    write_line,
)


class Rendered(logging.Handler):
    def __init__(self, *, as_json: bool) -> None:
        super().__init__()
        self.setFormatter(formatter(as_json=as_json))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def rendered() -> Iterator[Rendered]:
    # As every app does at start-up: structlog's lines go through the standard library.
    configure_logging(as_json=True, level="INFO")
    handler = Rendered(as_json=True)
    logger = logging.getLogger("gamehub.test_lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def test_a_fast_line_has_structlogs_fields_and_the_requests_context(rendered: Rendered) -> None:
    _, token = enter_request("req-1")
    note_user(7)
    try:
        fields = {"route": "/wallet", "status": 200, "stake": Decimal("1.50")}
        get_logger("gamehub.test_lines").info("request", **fields)
        write_line(logging.getLogger("gamehub.test_lines"), logging.INFO, "request", fields)
    finally:
        leave_request(token)
    structlogs, fast = (json.loads(line) for line in rendered.lines)
    assert fast.keys() == structlogs.keys()
    for line in (structlogs, fast):
        assert line.pop("timestamp").endswith("Z")
    assert fast == structlogs
    assert (fast["request_id"], fast["user_id"]) == ("req-1", 7)
    # An amount is written as the number it is.
    assert '"stake":1.50' in rendered.lines[1]


def test_a_fast_line_below_the_loggers_level_is_not_written(rendered: Rendered) -> None:
    write_line(logging.getLogger("gamehub.test_lines"), logging.DEBUG, "noise", {})
    assert rendered.lines == []


def test_a_fast_line_renders_for_a_person_too() -> None:
    handler = Rendered(as_json=False)
    logger = logging.getLogger("gamehub.test_lines_console")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        write_line(logger, logging.WARNING, "slow", {"route": "/spin"})
    finally:
        logger.removeHandler(handler)
    [line] = handler.lines
    assert "slow" in line
    assert "route=/spin" in line
    assert not line.startswith("{")

"""A line written on every request (:func:`write_line`) is the line structlog writes for
the same fields: same keys, same request context, same level filter, to the same handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def only_ours(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Handler]:
    """The logging of a served app: configure_logging's JSON handler on the root and
    nothing else (pytest's capture handlers, which it adds as each test's call begins,
    set aside meanwhile)."""
    configure_logging(as_json=True, level="INFO")
    root = logging.getLogger()
    [ours] = [h for h in root.handlers if h.get_name() == "gamehub"]
    with monkeypatch.context() as patched:
        patched.setattr(root, "handlers", [ours])
        yield ours


def records_made(monkeypatch: pytest.MonkeyPatch) -> list[logging.LogRecord]:
    made: list[logging.LogRecord] = []
    create = logging.LogRecord.__init__

    def counted(self: logging.LogRecord, *args: object, **kwargs: object) -> None:
        made.append(self)
        create(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(logging.LogRecord, "__init__", counted)
    return made


def test_a_line_only_the_json_handler_sees_is_written_straight_as_it_would_render(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("gamehub.test_straight")
    fields = {"route": "/profile", "status": 200, "stake": Decimal("2.50")}
    with_record = Rendered(as_json=True)
    _, token = enter_request("req-2")
    try:
        with only_ours(monkeypatch):
            with monkeypatch.context() as counting:
                made = records_made(counting)
                write_line(logger, logging.INFO, "request", fields)
            assert made == []
            # The same line through a record, as the formatter renders it.
            logger.addHandler(with_record)
            try:
                write_line(logger, logging.INFO, "request", fields)
            finally:
                logger.removeHandler(with_record)
    finally:
        leave_request(token)
    straight, through_handler = capsys.readouterr().err.splitlines()
    [rendered_line] = with_record.lines
    parsed = [json.loads(line) for line in (straight, through_handler, rendered_line)]
    for line in parsed:
        assert line.pop("timestamp").endswith("Z")
    assert list(parsed[0].items()) == list(parsed[2].items())
    assert parsed[1] == parsed[2]
    assert parsed[0]["request_id"] == "req-2"
    assert '"stake":2.50' in straight


def test_a_filter_on_the_handler_still_decides(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with only_ours(monkeypatch) as ours:
        ours.addFilter(lambda record: False)
        try:
            write_line(logging.getLogger("gamehub.test_straight"), logging.INFO, "dropped", {})
        finally:
            ours.filters.clear()
    assert capsys.readouterr().err == ""


def test_a_logger_that_does_not_propagate_never_reaches_the_roots_handler(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("gamehub.test_silent")
    with only_ours(monkeypatch):
        monkeypatch.setattr(logger, "propagate", False)
        write_line(logger, logging.WARNING, "kept to itself", {})
    # The standard library's last resort for a record no handler took, not our line.
    written = capsys.readouterr().err
    assert "kept to itself" in written
    with pytest.raises(json.JSONDecodeError):
        json.loads(written)

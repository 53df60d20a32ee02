"""Logs: structlog over the standard library, one JSON object a line (or console lines
for a person), each carrying the id of the request it was written for.

Every module keeps ``logging.getLogger(...)``; structlog's ``ProcessorFormatter`` renders
their records and structlog's own the same way, with the request's context (request id,
user id) added by :func:`add_request_context`. docs/operations.md describes the format.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
import structlog
from structlog.types import EventDict, Processor

# The marker of the handler configure_logging installed, so that configuring again (every
# create_app) replaces it rather than adding a second one.
_HANDLER_NAME = "gamehub"
# What a caller's X-Request-ID may be to be kept: an id, not a place to smuggle text into
# every log line.
_REQUEST_ID_MAX = 128
_REQUEST_ID_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:"
)


@dataclass(slots=True)
class RequestContext:
    """What the log lines written for one request carry. Mutable, and shared by every
    task the request's handler runs in (a task gets a copy of the context variable, but
    the same object), so that the user id found by a dependency reaches later lines."""

    request_id: str
    user_id: int | None = None


_current: ContextVar[RequestContext | None] = ContextVar("gamehub_request", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a plausible id, otherwise a new one."""
    if header and len(header) <= _REQUEST_ID_MAX and set(header) <= _REQUEST_ID_CHARACTERS:
        return header
    return uuid.uuid4().hex


def enter_request(request_id: str) -> tuple[RequestContext, object]:
    """Start a request's context; hand the token to :func:`leave_request` when it ends."""
    context = RequestContext(request_id)
    return context, _current.set(context)


def leave_request(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def note_user(user_id: int) -> None:
    """The request is the user's: its later log lines and its access line say so."""
    context = _current.get()
    if context is not None:
        context.user_id = user_id


T = TypeVar("T")


def in_this_request(body: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """``body`` run later, outside the request (an event stream's body, streamed once the
    middleware is done), still logging with the request's id."""
    context = _current.get()

    async def run(*args: Any) -> T:
        token = _current.set(context)
        try:
            return await body(*args)
        finally:
            _current.reset(token)

    return run


def add_request_context(_: Any, __: str, event: EventDict) -> EventDict:
    context = _current.get()
    if context is not None:
        event.setdefault("request_id", context.request_id)
        if context.user_id is not None:
            event.setdefault("user_id", context.user_id)
    return event


def _shared_processors() -> list[Processor]:
    return [
        add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        # A standard-library record's %-arguments, merged into its message.
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


# What a JSON line cannot hold natively (a Decimal, a path) is written as its repr, as
# structlog's own fallback does.
_JSON = msgspec.json.Encoder(enc_hook=repr, decimal_format="number")


def _json_line(event: EventDict, **_: Any) -> str:
    # structlog's JSONRenderer hands its dumps keyword arguments (its fallback) to the
    # serializer; the encoder has its own.
    return _JSON.encode(event).decode()


def formatter(*, as_json: bool) -> logging.Formatter:
    """Renders every record, the standard library's and structlog's, as one line."""
    final: list[Processor] = (
        [
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_json_line),
        ]
        if as_json
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


def configure_logging(*, as_json: bool, level: str) -> None:
    """Route every log line of the process to standard error, rendered by :func:`formatter`."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    global _json_handler
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(as_json=as_json))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    _json_handler = handler if as_json else None
    root.setLevel(level)
    # httpx logs every request's full URL at INFO, and a URL may carry a secret (our own
    # callback URLs do); the Daraja client's failures are logged by the payments.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def write_line(logger: logging.Logger, level: int, event: str, fields: dict[str, Any]) -> None:
    """The line ``get_logger(...).log(level, event, **fields)`` writes, for a line written
    on every request: the same fields and handlers, without structlog's chain and the
    standard library's search for the caller's frame (about half of an access line's
    cost). Where only the JSON handler would see it (a served app), the line is written
    straight to that handler's stream; otherwise it goes as a record to every handler."""
    if not logger.isEnabledFor(level):
        return
    line = {"event": event, **fields}
    add_request_context(None, "", line)
    name = logging.getLevelName(level).lower()
    now = time.time()
    line["level"] = name
    line["logger"] = logger.name
    line["timestamp"] = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
    sole = _sole_json_handler(logger, level)
    if sole is not None:
        # What the handler would write for the record, without the record: a quarter of
        # a GET /profile's CPU went to the record, its copy and the formatter's chain.
        text = _JSON.encode(line).decode() + sole.terminator
        with sole.lock or nullcontext():
            try:
                sole.stream.write(text)
                sole.stream.flush()
            except Exception:
                sole.handleError(_record(logger, level, name, line, now))
        return
    logger.handle(_record(logger, level, name, line, now))


# The JSON handler configure_logging installed last, if it renders JSON.
_json_handler: logging.StreamHandler[Any] | None = None


def _sole_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    """The handler a record of ``logger`` would reach, when that is only the JSON handler
    configure_logging installed and nothing would filter the record: then the line can be
    written straight to its stream. Anything else (a test's capture, an operator's own
    handler or filter) gets the record, as from any other logger."""
    ours = _json_handler
    if ours is None or ours.filters or level < ours.level or logger.filters or logger.disabled:
        return None
    reached = 0
    node: logging.Logger | None = logger
    while node is not None:
        for handler in node.handlers:
            if handler is not ours:
                return None
            reached += 1
        if not node.propagate:
            break
        node = node.parent
    return ours if reached == 1 else None


def _record(
    logger: logging.Logger, level: int, name: str, line: dict[str, Any], created: float
) -> logging.LogRecord:
    """The record of a line, in the shape structlog's ``wrap_for_formatter`` gives it, so
    that the formatter renders it as structlog's own."""
    record = logging.LogRecord(logger.name, level, "", 0, line, None, None)
    record.created = created
    record._logger = logger
    record._name = name
    return record


def get_logger(name: str) -> Any:
    """A structlog logger: keyword arguments become the line's fields."""
    return structlog.stdlib.get_logger(name)

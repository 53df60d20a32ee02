"""Errors carry their HTTP status and a stable code; one handler renders them.

Every error a client can meet is a :class:`GamehubError` subclass named for what went
wrong (``NotYourTurn``, ``InsufficientFunds``), and its name is the ``error`` code of the
body, which a client switches on::

    {"error": "<Code>", "detail": "<plain words>", ...structured fields}

A subclass's own annotated attributes are its structured fields (``retry_after``,
``limit``, ``remaining``): set in its ``__init__``, rendered beside ``detail``, listed in
its OpenAPI schema and in docs/errors.md. The classes here are the statuses' generic
bases and the errors the framework raises for any route; each domain names its own in
its ``errors.py``. A route declares what it can return with :func:`error_responses`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_origin, get_type_hints

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from gamehub.validation import describe_validation

logger = logging.getLogger("gamehub.errors")


class GamehubError(Exception):
    """An error with an HTTP status; the class name is the stable ``error`` code."""

    status_code: ClassVar[int] = 400
    # What the error says when the raise site has nothing to add.
    default_detail: ClassVar[str] = ""

    detail: str
    headers: dict[str, str]

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        detail = detail or self.default_detail
        if not detail:
            raise TypeError(f"{type(self).__name__} needs a detail")
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        # Subclasses set their fields before calling this: the header says it too.
        retry_after = getattr(self, "retry_after", None)
        if isinstance(retry_after, int):
            self.headers.setdefault("Retry-After", str(retry_after))

    @classmethod
    def code(cls) -> str:
        return cls.__name__

    @classmethod
    def meaning(cls) -> str:
        """The class's docstring, on one line: what the code means, for the documents."""
        return " ".join((inspect.getdoc(cls) or "").split())

    @classmethod
    def fields(cls) -> dict[str, Any]:
        return _structured_fields(cls)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code(), "detail": self.detail}
        for name in self.fields():
            body[name] = getattr(self, name)
        return body


_FIELDS: dict[type[GamehubError], dict[str, Any]] = {}


def _structured_fields(cls: type[GamehubError]) -> dict[str, Any]:
    """The instance attributes that subclasses of GamehubError annotate, with their
    types: the base's ``detail`` and ``headers`` and every ClassVar are not fields."""
    if cls in _FIELDS:
        return _FIELDS[cls]
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, GamehubError) or klass is GamehubError:
            continue
        own = inspect.get_annotations(klass)
        if not own:
            continue
        hints = get_type_hints(klass)
        for name in own:
            if get_origin(hints[name]) is not ClassVar:
                found[name] = hints[name]
    _FIELDS[cls] = found
    return found


# The statuses' generic bases. A raise site names its error with a subclass: a bare
# base is raised only where a seed's client pins the generic code.


class BadRequest(GamehubError):
    """The request cannot be read as sent."""

    status_code = 400


class Unauthorized(GamehubError):
    """The request needs credentials that it lacks or that do not hold."""

    status_code = 401

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(GamehubError):
    """The caller is known but may not do this."""

    status_code = 403


class NotFound(GamehubError):
    """The thing the request names does not exist, or is not the caller's to see."""

    status_code = 404


class Conflict(GamehubError):
    """The request is well formed but the state of things refuses it now."""

    status_code = 409


class ValidationFailed(GamehubError):
    """Well-formed input that breaks a rule."""

    status_code = 422


class TooManyRequests(GamehubError):
    """Too many requests of this kind; `retry_after` says in how many seconds to try."""

    status_code = 429
    retry_after: int

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 1) -> None:
        self.retry_after = max(1, int(retry_after_seconds))
        super().__init__(detail)


class ServiceUnavailable(GamehubError):
    """A part the request needs is down or busy; the same request may succeed later."""

    status_code = 503


class BadGateway(GamehubError):
    """A provider the request goes through refused it or answered nonsense."""

    status_code = 502


# Errors that the framework, not a domain, raises, on any route.


class MalformedJson(BadRequest):
    """The body is not valid JSON, not UTF-8, or holds a NUL character."""


class MalformedUrl(BadRequest):
    """The path or the query string holds a NUL character."""


class RouteNotFound(NotFound):
    """No route has this path."""

    default_detail = "No route has this path"


class MethodNotAllowed(GamehubError):
    """The path exists but does not take this HTTP method."""

    status_code = 405
    default_detail = "This path does not take this method"


class PayloadTooLarge(GamehubError):
    """The body is larger than the server accepts."""

    status_code = 413
    default_detail = "The body is larger than this server accepts"


class ValidationError(ValidationFailed):
    """A field of the body, the query or the path does not fit its rules: `field` names
    the first such field (`results[0].earnings`), `detail` says in plain words what is
    wrong with each."""

    field: str | None

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(detail)

    @classmethod
    def of(cls, field: str, problem: str) -> ValidationError:
        return cls(f"{field}: {problem}", field=field)


class InternalServerError(GamehubError):
    """A fault of ours; nothing about it is shown, and it is logged."""

    status_code = 500
    default_detail = "An unexpected error occurred"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached or lost the connection: nothing was done, and the
    same request may succeed in a moment."""

    retry_after: int
    default_detail = "The database is unavailable; try again shortly"

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after = retry_after_seconds
        super().__init__()


class NotReady(ServiceUnavailable):
    """A part this worker needs cannot be reached now: `down` names each (`database`,
    `redis`)."""

    down: list[str]

    def __init__(self, down: list[str]) -> None:
        self.down = down
        super().__init__(f"Unreachable: {', '.join(down)}")


class DatabaseBusy(ServiceUnavailable):
    """A unit of work kept losing lock conflicts; nothing it did was kept."""

    retry_after: int
    default_detail = "The game is busy; nothing was changed, try again"

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after = retry_after_seconds
        super().__init__()


# Litestar's own exceptions, by status, as ours; a 400 keeps the framework's words.
_FRAMEWORK_ERRORS: dict[int, type[GamehubError]] = {
    400: BadRequest,
    404: RouteNotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}

# What any route can answer whatever it does: the URL check runs before every route, a
# fault of ours is a 500, and a database outage answers 503 wherever it surfaces.
ANY_ROUTE: tuple[type[GamehubError], ...] = (MalformedUrl, InternalServerError, DatabaseUnavailable)
# What a route with a JSON body can answer besides.
WITH_BODY: tuple[type[GamehubError], ...] = (MalformedJson, PayloadTooLarge, ValidationError)


@dataclass
class ErrorResponseSpec(ResponseSpec):
    """One status's errors on one route: the OpenAPI response, and the classes behind it
    for docs/errors.md."""

    errors: tuple[type[GamehubError], ...] = field(default=())


def error_responses(*errors: type[GamehubError]) -> dict[int, ResponseSpec]:
    """``responses=`` for a route decorator: the route's errors, and those of any route,
    grouped by status, each with its body's schema. Replaces the framework's default 400,
    whose ``{status_code, detail, extra}`` we never send."""
    by_status: dict[int, list[type[GamehubError]]] = {}
    for error in dict.fromkeys((*errors, *ANY_ROUTE)):
        by_status.setdefault(error.status_code, []).append(error)
    responses: dict[int, ResponseSpec] = {}
    for status in sorted(by_status):
        group = tuple(sorted(by_status[status], key=lambda e: e.code()))
        bodies = tuple(error_schema(e) for e in group)
        container: Any = bodies[0] if len(bodies) == 1 else Union[bodies]  # noqa: UP007
        responses[status] = ErrorResponseSpec(
            data_container=container,
            description="\n".join(f"- `{e.code()}`: {e.meaning()}" for e in group),
            generate_examples=False,
            errors=group,
        )
    return responses


_SCHEMAS: dict[type[GamehubError], type[msgspec.Struct]] = {}


def error_schema(error: type[GamehubError]) -> type[msgspec.Struct]:
    """The body of ``error`` as a Struct, for the OpenAPI document: ``error`` is the one
    code, then ``detail``, then the structured fields."""
    if error in _SCHEMAS:
        return _SCHEMAS[error]
    code = error.code()
    struct: type[msgspec.Struct] = msgspec.defstruct(
        code,
        [
            ("error", Literal[code]),
            ("detail", str),
            *error.fields().items(),
        ],
        module=f"{error.__module__}.errors_openapi",
    )
    struct.__doc__ = error.meaning()
    _SCHEMAS[error] = struct
    return struct


def all_errors() -> Iterator[type[GamehubError]]:
    """Every GamehubError subclass imported so far, each once."""
    pending: list[type[GamehubError]] = [GamehubError]
    seen: set[type[GamehubError]] = set()
    while pending:
        klass = pending.pop()
        for sub in klass.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                yield sub


def render(error: GamehubError) -> Response[Any]:
    return Response(error.body(), status_code=error.status_code, headers=error.headers)


def handle_gamehub_error(_: Request[Any, Any, Any], exc: GamehubError) -> Response[Any]:
    return render(exc)


def handle_validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    # Litestar answers a body that is not JSON with a 400 before validation; this is
    # well-formed input of the wrong shape, the 422 case.
    detail, first = describe_validation(request, exc)
    return render(ValidationError(detail, field=first))


def handle_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    error_class = _FRAMEWORK_ERRORS.get(exc.status_code)
    if error_class is None:
        # Litestar raises no other status on our routes; should one appear, it is ours to fix.
        logger.error("unexpected framework error %s: %s", exc.status_code, exc.detail)
        return render(InternalServerError())
    detail = str(exc.detail) if error_class is BadRequest else None
    return render(error_class(detail, headers=exc.headers))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(InternalServerError())


exception_handlers: dict[type[Exception] | int, Any] = {
    GamehubError: handle_gamehub_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

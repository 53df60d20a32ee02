"""Domain errors carry their HTTP status; one handler renders ``{"error", "detail"}``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

logger = logging.getLogger("gamehub.errors")


class GamehubError(Exception):
    status_code: ClassVar[int] = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def name(self) -> str:
        return type(self).__name__


class BadRequest(GamehubError):
    status_code = 400


class Unauthorized(GamehubError):
    status_code = 401

    def __init__(self, detail: str = "Authentication required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Invalid username or password")


class Forbidden(GamehubError):
    status_code = 403


class NotFound(GamehubError):
    status_code = 404


class Conflict(GamehubError):
    status_code = 409


class Gone(GamehubError):
    status_code = 410


class ValidationFailed(GamehubError):
    """Well-formed input that breaks a rule (a common password, a foreign email domain)."""

    status_code = 422

    @property
    def name(self) -> str:
        return "ValidationError"


class TooManyRequests(GamehubError):
    status_code = 429

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_seconds))})


class ServiceUnavailable(GamehubError):
    status_code = 503


# Litestar's own exceptions keep their status; these names read better than "HTTPException".
_HTTP_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


def _body(error: str, detail: str) -> dict[str, Any]:
    return {"error": error, "detail": detail}


def _describe_validation(exc: ValidationException) -> str:
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        key = problem.get("key")
        message = str(problem.get("message", "invalid value"))
        parts.append(f"{key}: {message}" if key else message)
    return "; ".join(parts) or str(exc.detail)


def handle_gamehub_error(_: Request[Any, Any, Any], exc: GamehubError) -> Response[Any]:
    return Response(_body(exc.name, exc.detail), status_code=exc.status_code, headers=exc.headers)


def handle_validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    # Litestar answers a body that is not JSON with a 400 before validation; this is
    # well-formed input of the wrong shape, the 422 case.
    return Response(_body("ValidationError", _describe_validation(exc)), status_code=422)


def handle_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    return Response(
        _body(_HTTP_NAMES.get(status, "HTTPError"), str(exc.detail)),
        status_code=status,
        headers=exc.headers,
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        _body("InternalServerError", "An unexpected error occurred"),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    GamehubError: handle_gamehub_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

"""Daraja's wire conventions as the simulator enforces them: the error envelope, the request
field checks (each failure is ``400.002.02 Bad Request - Invalid <Field>``) and the shapes of
the identifiers it hands out."""

from __future__ import annotations

import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from gamehub.core.mpesa.credentials import EAT, TIMESTAMP_FORMAT

MAX_AMOUNT = 250_000
_MSISDN = re.compile(r"254(?:7\d|1[01])\d{7}")
_DAY_CHARS = string.digits[1:] + string.ascii_uppercase[:22]  # 1..9, then A=10 .. V=31
_RECEIPT_CHARS = string.ascii_uppercase + string.digits


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str, request_id: str | None = None):
        super().__init__(f"{code} {message}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id

    def envelope(self) -> dict[str, str]:
        return {
            "requestId": self.request_id or request_id(),
            "errorCode": self.code,
            "errorMessage": self.message,
        }


def invalid(name: str) -> GatewayError:
    return GatewayError(400, "400.002.02", f"Bad Request - Invalid {name}")


def digits(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise invalid(name)
    return text


def msisdn(body: dict[str, Any], name: str) -> str:
    text = digits(body, name)
    if not _MSISDN.fullmatch(text):
        raise invalid(name)
    return text


def amount(body: dict[str, Any], minimum: int) -> int:
    # Whole numbers only, as a number or a numeric string ("Amount": "1" in Safaricom's samples).
    try:
        value = int(digits(body, "Amount"))
    except GatewayError:
        raise invalid("Amount") from None
    if not minimum <= value <= MAX_AMOUNT:
        raise invalid("Amount")
    return value


def text(body: dict[str, Any], name: str, shortest: int, longest: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        raise invalid(name)
    return value


def optional_text(body: dict[str, Any], name: str) -> str | None:
    return None if body.get(name) is None else text(body, name, 1, 100)


def url(body: dict[str, Any], name: str) -> str:
    value = text(body, name, 8, 2048)
    if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise invalid(name)
    return value


def timestamp(body: dict[str, Any]) -> str:
    value = digits(body, "Timestamp")
    if len(value) != len("YYYYMMDDHHmmss"):
        raise invalid("Timestamp")
    try:
        datetime.strptime(value, TIMESTAMP_FORMAT)
    except ValueError:
        raise invalid("Timestamp") from None
    return value


def now_eat() -> datetime:
    return datetime.now(UTC).astimezone(EAT)


def compact(moment: datetime) -> int:
    """``YYYYMMDDHHmmss`` as the number Daraja puts in callbacks."""
    return int(moment.strftime(TIMESTAMP_FORMAT))


def request_id() -> str:
    return f"{secrets.randbelow(10**5):05d}-{secrets.randbelow(10**8):08d}-1"


def conversation_id(now: datetime) -> str:
    return f"AG_{now:%Y%m%d}_{secrets.token_hex(10)}"


def checkout_request_id(now: datetime) -> str:
    return f"ws_CO_{now:%d%m%Y%H%M%S}{secrets.randbelow(10**9):09d}"


def receipt(now: datetime, *, placeholder: bool = False) -> str:
    """Observed shape: year letter (N = 2019), month letter, day character, then 7 more;
    failures carry a placeholder with zeros."""
    prefix = (
        chr(ord("A") + (now.year - 2019 + 13) % 26)
        + chr(ord("A") + now.month - 1)
        + _DAY_CHARS[now.day - 1]
    )
    if placeholder:
        return prefix + "0000000"
    return prefix + "".join(secrets.choice(_RECEIPT_CHARS) for _ in range(7))

"""Typed views of what Daraja POSTs back: the STK callback and the ``Result`` envelope that
B2C results, queue time-outs and Transaction Status results share.

Daraja's payloads are loose (see docs/mpesa-simulator.md and the protocol reference), so the
parsers accept every observed variant: ``ResultCode`` as a number or a string, items looked up
by name in any order, one-element lists sent as a bare object, and keys spelled with spaces
(``Conversation ID``). Anything that is not one of those variants raises CallbackFormatError;
persist the raw body before parsing so that a rejected callback can still be investigated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from gamehub.core.mpesa.credentials import EAT, TIMESTAMP_FORMAT

SUCCESS = "0"
B2C_DATETIME_FORMAT = "%d.%m.%Y %H:%M:%S"

Payload = bytes | str | Mapping[str, Any]


class CallbackFormatError(ValueError):
    """The body is not a callback of the expected shape; the message names the first problem."""


@dataclass(frozen=True, slots=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str
    # Present only when the payment succeeded (Daraja omits CallbackMetadata on failure).
    amount_kes: int | None = None
    receipt_number: str | None = None
    transaction_date: datetime | None = None
    phone_number: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result_code == SUCCESS


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultEnvelope:
    """The fields every ``Result`` callback carries, and its parameters by (lenient) name."""

    result_code: str
    result_desc: str
    originator_conversation_id: str
    conversation_id: str
    transaction_id: str | None
    parameters: Mapping[str, object] = field(default_factory=dict)
    reference_items: Mapping[str, object] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result_code == SUCCESS

    def parameter(self, name: str) -> object | None:
        value: object | None = _lookup(self.parameters, name)
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class B2CResult(ResultEnvelope):
    """A B2C result, or a queue time-out (same envelope; which one depends on the URL hit).

    A time-out means the outcome is unknown, not failed: resolve it with Transaction Status.
    """

    amount_kes: int | None = None
    receipt: str | None = None
    receiver_public_name: str | None = None
    completed_at: datetime | None = None
    recipient_registered: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionStatusResult(ResultEnvelope):
    """``originator_conversation_id``/``conversation_id`` identify the status query itself;
    the ``transaction_*`` fields identify the payment it looked up."""

    receipt_no: str | None = None
    transaction_status: str | None = None
    amount_kes: int | None = None
    transaction_originator_conversation_id: str | None = None
    transaction_conversation_id: str | None = None
    finalised_at: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.succeeded and self.transaction_status == "Completed"


def parse_stk_callback(payload: Payload) -> StkCallback:
    root = _load(payload)
    body = _object(_lookup(root, "Body"), "Body")
    callback = _object(_lookup(body, "stkCallback"), "Body.stkCallback")
    result_code = _result_code(callback, "stkCallback.ResultCode")
    common: dict[str, Any] = {
        "merchant_request_id": _required_str(callback, "MerchantRequestID", "stkCallback"),
        "checkout_request_id": _required_str(callback, "CheckoutRequestID", "stkCallback"),
        "result_code": result_code,
        "result_desc": _optional_str(callback, "ResultDesc", "stkCallback") or "",
    }
    if result_code != SUCCESS:
        return StkCallback(**common)
    metadata = _object(_lookup(callback, "CallbackMetadata"), "stkCallback.CallbackMetadata")
    items = _named_items(_lookup(metadata, "Item"), "CallbackMetadata.Item", "Name")
    if _lookup(items, "Amount") is None:
        raise CallbackFormatError("CallbackMetadata has no Amount on a successful callback")
    receipt = _optional_str(items, "MpesaReceiptNumber", "CallbackMetadata")
    if not receipt:
        raise CallbackFormatError("CallbackMetadata has no MpesaReceiptNumber on success")
    date = _lookup(items, "TransactionDate")
    phone = _lookup(items, "PhoneNumber")
    return StkCallback(
        **common,
        amount_kes=_whole_kes(_lookup(items, "Amount"), "Amount"),
        receipt_number=receipt,
        transaction_date=None if date is None else _compact_datetime(date, "TransactionDate"),
        phone_number=None if phone is None else _digits(phone, "PhoneNumber"),
    )


def parse_result(payload: Payload) -> ResultEnvelope:
    return ResultEnvelope(**_envelope_fields(payload))


def parse_b2c_result(payload: Payload) -> B2CResult:
    fields = _envelope_fields(payload)
    params: Mapping[str, object] = fields["parameters"]
    amount = _lookup(params, "TransactionAmount")
    completed = _lookup(params, "TransactionCompletedDateTime")
    registered = _lookup(params, "B2CRecipientIsRegisteredCustomer")
    if registered is not None and registered not in ("Y", "N"):
        raise CallbackFormatError("B2CRecipientIsRegisteredCustomer must be 'Y' or 'N'")
    return B2CResult(
        **fields,
        amount_kes=None if amount is None else _whole_kes(amount, "TransactionAmount"),
        receipt=_optional_str(params, "TransactionReceipt", "ResultParameters"),
        receiver_public_name=_optional_str(params, "ReceiverPartyPublicName", "ResultParameters"),
        completed_at=None if completed is None else _b2c_datetime(completed),
        recipient_registered=None if registered is None else registered == "Y",
    )


def parse_transaction_status_result(payload: Payload) -> TransactionStatusResult:
    fields = _envelope_fields(payload)
    params: Mapping[str, object] = fields["parameters"]
    amount = _lookup(params, "Amount")
    finalised = _lookup(params, "FinalisedTime")
    return TransactionStatusResult(
        **fields,
        receipt_no=_optional_str(params, "ReceiptNo", "ResultParameters"),
        transaction_status=_optional_str(params, "TransactionStatus", "ResultParameters"),
        amount_kes=None if amount is None else _whole_kes(amount, "Amount"),
        transaction_originator_conversation_id=_optional_str(
            params, "OriginatorConversationID", "ResultParameters"
        ),
        transaction_conversation_id=_optional_str(params, "ConversationID", "ResultParameters"),
        finalised_at=None if finalised is None else _compact_datetime(finalised, "FinalisedTime"),
    )


def _envelope_fields(payload: Payload) -> dict[str, Any]:
    result = _object(_lookup(_load(payload), "Result"), "Result")
    parameters: Mapping[str, object] = {}
    container = _lookup(result, "ResultParameters")
    if container is not None:
        inner = _object(container, "Result.ResultParameters")
        parameters = _named_items(
            _lookup(inner, "ResultParameter"), "ResultParameters.ResultParameter", "Key"
        )
    references: Mapping[str, object] = {}
    container = _lookup(result, "ReferenceData")
    if container is not None:
        inner = _object(container, "Result.ReferenceData")
        references = _named_items(
            _lookup(inner, "ReferenceItem"), "ReferenceData.ReferenceItem", "Key"
        )
    return {
        "result_code": _result_code(result, "Result.ResultCode"),
        "result_desc": _optional_str(result, "ResultDesc", "Result") or "",
        "originator_conversation_id": _required_str(result, "OriginatorConversationID", "Result"),
        "conversation_id": _required_str(result, "ConversationID", "Result"),
        "transaction_id": _optional_str(result, "TransactionID", "Result"),
        "parameters": parameters,
        "reference_items": references,
    }


def _load(payload: Payload) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    try:
        decoded = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise CallbackFormatError(f"body is not JSON: {exc}") from exc
    return _object(decoded, "body")


def _normal_key(name: str) -> str:
    # Older payloads spell keys with spaces ("Conversation ID"); case varies between samples.
    return "".join(name.split()).replace("_", "").lower()


def _lookup(mapping: Mapping[str, Any], name: str) -> Any:
    if name in mapping:
        return mapping[name]
    wanted = _normal_key(name)
    for key, value in mapping.items():
        if isinstance(key, str) and _normal_key(key) == wanted:
            return value
    return None


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise CallbackFormatError(f"{where} must be an object, found {found}")
    return value


def _named_items(value: object, where: str, name_field: str) -> dict[str, object]:
    """``[{Name|Key, Value}, ...]`` (or one bare such object) as a dict; Value may be absent."""
    entries = [value] if isinstance(value, Mapping) else value
    if not isinstance(entries, list):
        raise CallbackFormatError(f"{where} must be a list or an object")
    items: dict[str, object] = {}
    for index, entry in enumerate(entries):
        entry_object = _object(entry, f"{where}[{index}]")
        name = _lookup(entry_object, name_field)
        if not isinstance(name, str) or not name:
            raise CallbackFormatError(f"{where}[{index}] has no {name_field}")
        items[name] = _lookup(entry_object, "Value")
    return items


def _result_code(mapping: Mapping[str, Any], where: str) -> str:
    value = _lookup(mapping, "ResultCode")
    text = "" if isinstance(value, bool) or not isinstance(value, int | str) else str(value)
    if not text.strip():
        raise CallbackFormatError(f"{where} must be a number or a non-empty string")
    return text.strip()


def _required_str(mapping: Mapping[str, Any], name: str, where: str) -> str:
    value = _optional_str(mapping, name, where)
    if not value:
        raise CallbackFormatError(f"{where}.{name} is missing or empty")
    return value


def _optional_str(mapping: Mapping[str, Any], name: str, where: str) -> str | None:
    value = _lookup(mapping, name)
    if value is None or isinstance(value, str):
        return value
    raise CallbackFormatError(f"{where}.{name} must be a string, found {type(value).__name__}")


def _whole_kes(value: object, where: str) -> int:
    # Daraja sends 1, 1.0 or "1.00" for the same amount; anything with a fractional part is
    # not an amount M-Pesa could have moved.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CallbackFormatError(f"{where} must be a number")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation as exc:
        raise CallbackFormatError(f"{where} must be a number") from exc
    if not amount.is_finite() or amount != amount.to_integral_value() or amount < 0:
        raise CallbackFormatError(f"{where} must be a whole, non-negative number of KES")
    return int(amount)


def _digits(value: object, where: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()):
        raise CallbackFormatError(f"{where} must be a number or a string of digits")
    return text


def _compact_datetime(value: object, where: str) -> datetime:
    text = _digits(value, where)
    if len(text) != len("YYYYMMDDHHmmss"):
        raise CallbackFormatError(f"{where} must be YYYYMMDDHHmmss")
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=EAT)
    except ValueError as exc:
        raise CallbackFormatError(f"{where} must be YYYYMMDDHHmmss") from exc


def _b2c_datetime(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), B2C_DATETIME_FORMAT).replace(tzinfo=EAT)
        except ValueError:
            pass
    raise CallbackFormatError("TransactionCompletedDateTime must be DD.MM.YYYY HH:mm:ss")

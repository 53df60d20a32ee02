"""Deposit and withdrawal bodies. Amounts are major units; M-Pesa moves whole shillings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from gamehub.core.money import Amount

PhoneNumber = Annotated[
    str,
    Meta(
        min_length=9,
        max_length=16,
        description="0712345678, +254712345678 or 2547…",
        examples=["254712345678"],
    ),
]


class PaymentIn(Struct, forbid_unknown_fields=True):
    # Decoded exactly (see gamehub.core.requests).
    amount: Amount
    phone: PhoneNumber


class DepositIn(Struct, forbid_unknown_fields=True):
    amount: Amount
    # The phone the STK prompt goes to; the account's own phone when left out.
    phone: PhoneNumber | None = None


class DepositOut(Struct):
    deposit_id: int
    status: str
    amount: float
    currency: str
    phone: str
    checkout_request_id: str | None
    mpesa_receipt: str | None
    result_code: str | None
    result_desc: str | None
    created_at: datetime
    settled_at: datetime | None
    # Withheld from the amount when it was credited (docs/operators.md, "Taxes"): the
    # wallet received amount - tax; 0 before it is credited or when untaxed.
    tax: float


class WithdrawalOut(Struct):
    withdrawal_id: int
    status: str
    amount: float
    currency: str
    phone: str
    mpesa_receipt: str | None
    result_code: str | None
    result_desc: str | None
    created_at: datetime
    # When it completed or failed (the same name as on deposits and bets).
    settled_at: datetime | None
    # Charged on top of the amount (docs/operators.md, "Taxes"): the wallet was debited
    # amount + tax, and a failed withdrawal gave both back.
    tax: float
    # The wallet's balance right after the funds were held (only on POST /withdraw).
    new_balance: float | None = None


class DepositPage(Struct):
    items: list[DepositOut]
    # Pass as ?cursor= for the next, older page; null on the last page.
    next_cursor: str | None


class WithdrawalPage(Struct):
    items: list[WithdrawalOut]
    next_cursor: str | None


class CallbackAck(Struct):
    ResultCode: int
    ResultDesc: str

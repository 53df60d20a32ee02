"""Admin API requests and responses. Amounts are major units (KES 12.50 is 12.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from gamehub.core.money import SignedAmount

Reason = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=255,
        pattern=r"\S",
        examples=["Player asked by phone, ticket 4411"],
        description="Why: kept in the audit log",
    ),
]
RoleName = Annotated[
    str, Meta(max_length=16, examples=["support"], description="admin, support or finance")
]


class ReasonIn(Struct):
    reason: Reason


class RoleIn(Struct):
    role: RoleName


class NoteIn(Struct):
    body: Annotated[
        str, Meta(min_length=1, max_length=4000, pattern=r"\S", examples=["Called about KYC"])
    ]


class AdjustIn(Struct):
    # Positive credits the wallet, negative debits it (never below zero).
    amount: SignedAmount
    reason: Reason


class ResolveIn(Struct):
    # True: M-Pesa's statement shows the money moved. False: it did not (refund or fail).
    paid: bool
    reason: Reason
    receipt: (
        Annotated[str, Meta(max_length=32, examples=["QK12ABC34D"], description="M-Pesa receipt")]
        | None
    ) = None


class KycIn(Struct):
    status: Literal["unverified", "pending", "verified", "rejected"]
    reason: Reason


class LegalOrderIn(Struct):
    reason: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=255,
            pattern=r"\S",
            examples=["High Court order HCCC E123/2026"],
            description="The legal order's reference: kept in the audit log",
        ),
    ]


class PhoneIn(Struct):
    phone: Annotated[
        str,
        Meta(
            min_length=9,
            max_length=20,
            examples=["0708374149"],
            description="A Safaricom number, 07… or 2547…",
        ),
    ]
    reason: Reason


class PhoneOut(Struct):
    # The number in M-Pesa's form (2547…).
    phone: str
    message: str
    user_id: int | None = None


class AwaitingWithdrawal(Struct):
    id: int
    user_id: int
    username: str
    amount: float
    currency: str
    phone: str
    created_at: datetime


class AwaitingPage(Struct):
    items: list[AwaitingWithdrawal]
    # Pass as ?cursor= for the next page (the queue is oldest first); null on the last.
    next_cursor: str | None


class RolesOut(Struct):
    username: str
    roles: list[str]


class PlayerSummary(Struct):
    id: int
    username: str
    email: str | None
    phone: str | None
    full_name: str | None
    is_active: bool
    created_at: datetime
    last_login: datetime | None


class PlayerPage(Struct):
    items: list[PlayerSummary]
    next_cursor: str | None


class RecordPage(Struct):
    # The rows as stored (amounts in major units; secrets never shown).
    items: list[dict[str, Any]]
    next_cursor: str | None


class ActionOut(Struct):
    id: int
    username: str
    is_active: bool
    message: str


class UnlockOut(Struct):
    id: int
    username: str
    records_cleared: int


class AdjustOut(Struct):
    id: int
    ledger_transaction_id: int
    new_balance: float


class PaymentOut(Struct):
    kind: str
    id: int
    status: str
    mpesa_receipt: str | None
    result_desc: str | None


class AuditOut(Struct):
    id: int
    actor: str
    actor_id: int | None
    action: str
    target_kind: str
    target_id: str
    client_ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    created_at: datetime


class AuditPage(Struct):
    items: list[AuditOut]
    next_cursor: str | None


class GameReport(Struct):
    game: str
    bets: int
    wagered: float
    paid_out: float
    gross_gaming_revenue: float
    actual_rtp: float | None
    theoretical_rtp: float | None


class StatusTotal(Struct):
    status: str
    count: int
    amount: float


class InReview(Struct):
    deposits: int
    withdrawals: int


class LedgerTotal(Struct):
    account_kind: str
    credits: float
    debits: float


class TaxTotal(Struct):
    rule: str
    # The movements taxed in the period.
    count: int
    # What the period's movements owe: taxes posted less those refunds gave back.
    total: float


class ReportOut(Struct):
    since: datetime | None
    until: datetime | None
    currency: str
    games: list[GameReport]
    deposits: list[StatusTotal]
    withdrawals: list[StatusTotal]
    needing_review: InReview
    ledger: list[LedgerTotal]
    # Per tax rule (docs/operators.md, "Taxes"), every rule listed.
    taxes: list[TaxTotal]

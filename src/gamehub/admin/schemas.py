"""Admin API requests and responses. Amounts are major units (KES 12.50 is 12.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from gamehub.core.money import OptionalAmount, SignedAmount

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
    # Charged on top of the amount (docs/operators.md, "Taxes"): held with it.
    tax: float
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
    amount: float
    # As the player's own views show it (docs/operators.md, "Taxes"): a deposit's tax
    # withheld when credited, a withdrawal's charged on top of the amount sent.
    tax: float


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


# Games

EdgeBps = Annotated[
    int,
    Meta(ge=0, le=5000, examples=[500], description="Basis points, 0 to 5000: 500 is 5%"),
]


class GameChangeIn(Struct, forbid_unknown_fields=True):
    """What to change; a field left out stays as it is. The rake and the side-bet edge
    are Russian Roulette's only."""

    is_active: bool | None = None
    min_bet: OptionalAmount = None
    max_bet: OptionalAmount = None
    rake_bps: EdgeBps | None = None
    side_bet_edge_bps: EdgeBps | None = None
    reason: Reason | None = None


class SegmentIn(Struct, forbid_unknown_fields=True):
    multiplier: Annotated[
        str,
        Meta(
            max_length=12,
            pattern=r"^[0-9]+(\.[0-9]{1,2})?$",
            examples=["2.0"],
            description="Times the stake, in whole hundredths",
        ),
    ]
    weight: Annotated[int, Meta(gt=0, le=2**32, examples=[18])]


class RewardTableIn(Struct, forbid_unknown_fields=True):
    table: Annotated[list[SegmentIn], Meta(min_length=2, max_length=1000)]
    reason: Reason | None = None


class AdminGameOut(Struct):
    slug: str
    name: str
    is_active: bool
    min_bet: float
    max_bet: float
    # Theoretical return to player of the configuration in force.
    rtp: float
    rtp_exact: str
    # Spin and Win's table in force; roulette's rake and side-bet edge (basis points).
    reward_table_version: int | None
    rake_bps: int | None
    side_bet_edge_bps: int | None


class AdminRewardTableOut(Struct):
    version: int
    table: list[dict[str, str | int]]
    rtp: float
    rtp_exact: str
    in_force: bool
    created_at: datetime
    created_by: str

"""M-Pesa deposits and withdrawals, and every callback payload exactly as it arrived."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, BigIntPK, UTCDateTime, utcnow


class DepositStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    # No answer from M-Pesa within the configured time; a confirmed late success still credits.
    EXPIRED = "expired"
    # M-Pesa confirmed something we cannot apply on our own (another amount): an operator decides.
    NEEDS_REVIEW = "needs_review"


class WithdrawalStatus(StrEnum):
    # Funds held, above GAMEHUB_WITHDRAWAL_APPROVAL_ABOVE_MINOR: M-Pesa hears nothing until
    # a finance operator approves it (then pending) or rejects it (then failed, refunded).
    AWAITING_APPROVAL = "awaiting_approval"
    # Funds held, the B2C request not yet accepted by M-Pesa.
    PENDING = "pending"
    # Accepted by M-Pesa; waiting for the result callback.
    SUBMITTED = "submitted"
    # M-Pesa's answer was lost or timed out: never re-send, ask Transaction Status.
    UNKNOWN = "unknown"
    COMPLETED = "completed"
    # Failed and refunded to the wallet.
    FAILED = "failed"
    # M-Pesa keeps saying it has no record (or reports another amount): the funds stay held
    # until an operator resolves it, since "not found" may still mean "paid".
    NEEDS_REVIEW = "needs_review"


HELD_WITHDRAWAL_STATUSES = (
    WithdrawalStatus.PENDING.value,
    WithdrawalStatus.SUBMITTED.value,
    WithdrawalStatus.UNKNOWN.value,
    WithdrawalStatus.NEEDS_REVIEW.value,
)
# Held, and asked about by the reconciler (needs_review waits for a person instead).
QUERIED_WITHDRAWAL_STATUSES = HELD_WITHDRAWAL_STATUSES[:3]
# Every status whose amount is still out of the wallet: the held statuses above, which
# M-Pesa's answers may settle, and one awaiting approval, which M-Pesa has never heard of
# (so no callback or Transaction Status answer may settle it).
FUNDS_HELD_WITHDRAWAL_STATUSES = (
    WithdrawalStatus.AWAITING_APPROVAL.value,
    *HELD_WITHDRAWAL_STATUSES,
)


class Deposit(Base):
    __tablename__ = "deposits"
    __table_args__ = (Index("ix_deposits_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    # Withheld from the amount when it is credited (gamehub.wallet.taxes): the wallet
    # receives amount - tax.
    tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    phone: Mapped[str] = mapped_column(String(15))
    status: Mapped[str] = mapped_column(String(16), default=DepositStatus.PENDING.value)
    checkout_request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    merchant_request_id: Mapped[str | None] = mapped_column(String(64))
    mpesa_receipt: Mapped[str | None] = mapped_column(String(32), unique=True)
    result_code: Mapped[str | None] = mapped_column(String(32))
    result_desc: Mapped[str | None] = mapped_column(String(255))
    ledger_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT")
    )
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_query_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Random, in this push's CallBackURL only: a callback without it is not M-Pesa's answer
    # to this push, and it finds the deposit even when the CheckoutRequestID was never stored.
    callback_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Withdrawal(Base):
    __tablename__ = "withdrawals"
    __table_args__ = (
        Index("ix_withdrawals_status_updated_at", "status", "updated_at"),
        Index("ix_withdrawals_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # What M-Pesa sends; the wallet is debited amount + tax (gamehub.wallet.taxes), and a
    # failed withdrawal gives both back.
    amount: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    phone: Mapped[str] = mapped_column(String(15))
    status: Mapped[str] = mapped_column(String(24), default=WithdrawalStatus.PENDING.value)
    # Ours, sent as B2C's OriginatorConversationID: the payment's idempotency key at M-Pesa.
    originator_conversation_id: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    mpesa_receipt: Mapped[str | None] = mapped_column(String(32))
    result_code: Mapped[str | None] = mapped_column(String(32))
    result_desc: Mapped[str | None] = mapped_column(String(255))
    hold_transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), unique=True
    )
    settle_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT")
    )
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_query_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Random, in this payout's ResultURL and QueueTimeOutURL only.
    callback_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Random, single use, in the ResultURL of the one Transaction Status question now open;
    # committed before the question is sent, cleared when its answer is accepted.
    status_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MpesaCallback(Base):
    """A callback's raw body: evidence, never an order.

    Every distinct body is kept (a byte-identical replay is stored once), so that a forged
    callback and the genuine one for the same payment both stay on record; one that
    disagrees with what M-Pesa confirmed is flagged for an operator.
    """

    __tablename__ = "mpesa_callbacks"
    __table_args__ = (
        UniqueConstraint("kind", "external_id", "payload_sha256"),
        Index("ix_mpesa_callbacks_flagged_received_at", "flagged", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    # The per-payment token in the URL it was posted to (None: no or unknown token).
    url_token: Mapped[str | None] = mapped_column(String(64), index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(255))
    # It contradicts M-Pesa's confirmed outcome, or carries a wrong token: for a person.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyKey(Base):
    """The first response to a money-moving request, replayed for repeats of its key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    # What the request created before its first durable money step (committed with it): a
    # repeat answers with that resource's current state and never runs the request again.
    resource_kind: Mapped[str | None] = mapped_column(String(32))
    resource_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

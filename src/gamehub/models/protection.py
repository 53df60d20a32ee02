"""Player protection: a player's own controls (limits, time-out, self-exclusion, reality
check) and the account's identity checks (KYC status).

One row per player who has ever set a control, and one per limit. A limit's change that
loosens it waits out a cooling-off period in the ``pending_*`` columns; tightening one
replaces ``amount`` at once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, UTCDateTime, utcnow


class LimitKind(StrEnum):
    DEPOSIT = "deposit"
    # Stakes less winnings.
    LOSS = "loss"
    # Stakes.
    WAGER = "wager"


class LimitPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class KycStatus(StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class PlayerProtection(Base):
    __tablename__ = "player_protection"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    timeout_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A permanent exclusion has no end: excluded_permanent with excluded_until None.
    excluded_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    excluded_permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    reality_check_minutes: Mapped[int | None] = mapped_column(Integer)
    # The play session the reality check reports on: it began at the first bet after a
    # pause of the configured length, and was last reported on at reminded_at.
    session_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_bet_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    kyc_status: Mapped[str] = mapped_column(String(16), default=KycStatus.UNVERIFIED.value)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlayerLimit(Base):
    __tablename__ = "player_limits"
    __table_args__ = (UniqueConstraint("user_id", "kind", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    # Minor units; None: no limit in force (one is pending, or was removed).
    amount: Mapped[int | None] = mapped_column(BigInteger)
    # A loosening that takes effect at pending_from: the new amount, None for removal.
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_amount: Mapped[int | None] = mapped_column(BigInteger)
    pending_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PhoneProof(StrEnum):
    # M-Pesa's own approval of a deposit into the account: the PIN holder is the player.
    DEPOSIT = "deposit"
    OPERATOR = "operator"


class PlayerPhone(Base):
    """A phone number (normalised, ``2547…``) an account registered with or proved."""

    __tablename__ = "player_phones"
    __table_args__ = (
        UniqueConstraint("user_id", "phone"),
        Index("ix_player_phones_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: not proven, so withdrawals cannot be paid to it.
    proven_by: Mapped[str | None] = mapped_column(String(16))
    proven_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SharedPhone(Base):
    """A phone number an operator allowed more than one account to register with."""

    __tablename__ = "shared_phones"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    allowed_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

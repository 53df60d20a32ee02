"""Operators' roles, their notes on players, and the audit trail of what they did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, BigIntPK, UTCDateTime, utcnow


class Role(StrEnum):
    # Everything, granting roles included.
    ADMIN = "admin"
    # Reads players, unlocks logins, writes notes.
    SUPPORT = "support"
    # Reads players, moves money by hand, settles payments, reads reports.
    FINANCE = "finance"


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlayerNote(Base):
    __tablename__ = "player_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditLog(Base):
    """One row per operator action, written in the transaction of the change itself: a
    change that rolls back leaves no row, and a row that cannot be written undoes it."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target_kind_target_id", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign key: the trail outlives the accounts it names (an erased operator too).
    actor_id: Mapped[int | None] = mapped_column(Integer)
    # "user:<name>" through the API, "cli:<who>" from the command line.
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    # JSON objects: the state the action changed, as it was and as it became.
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

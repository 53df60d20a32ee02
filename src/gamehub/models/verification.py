from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, UTCDateTime, utcnow


class VerificationToken(Base):
    """A one-time token for email verification or password reset, kept only as a digest."""

    __tablename__ = "verification_tokens"
    __table_args__ = (Index("ix_verification_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(50))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    is_used: Mapped[bool] = mapped_column(Boolean, default=False)

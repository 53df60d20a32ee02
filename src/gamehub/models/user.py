from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ColumnElement, Integer, String, bindparam, exists
from sqlalchemy.orm import Mapped, QueryableAttribute, mapped_column, relationship

from gamehub.models.base import Base, UTCDateTime, utcnow
from gamehub.models.refresh_token import RefreshToken

if TYPE_CHECKING:
    from gamehub.models.profile import UserProfile


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    # Lower-cased username: one uniqueness rule on every backend, whatever its collation.
    username_key: Mapped[str] = mapped_column(String(50), unique=True)
    # Stored lower-cased so that uniqueness ignores case on every backend.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(100))
    roll_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Access tokens issued before this instant are refused (password change or reset).
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The seed's api_token, kept only as a SHA-256 digest; the prefix lets a user tell tokens apart.
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    api_token_hint: Mapped[str | None] = mapped_column(String(16))
    api_token_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    api_token_last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when the account was erased: its personal data is gone, its ledger and bets kept.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    profile: Mapped[UserProfile] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan", lazy="raise"
    )


def credential_columns() -> tuple[QueryableAttribute[Any] | ColumnElement[Any], ...]:
    """What an access token's check reads, as columns of a statement that reads the
    caller's own rows anyway (GET /profile, GET /wallet): the account's state, and whether
    the token's session (the bound parameter ``p_family_id``) has been revoked. One
    statement then does the identity's check and the route's read together."""
    family_revoked = exists().where(
        RefreshToken.user_id == User.id,
        RefreshToken.family_id == bindparam("p_family_id", type_=String),
        RefreshToken.revoked.is_(True),
    )
    return (
        User.is_active,
        User.email_verified,
        User.sessions_valid_after,
        family_revoked.label("family_revoked"),
    )

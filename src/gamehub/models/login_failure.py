from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, UTCDateTime


class LoginFailure(Base):
    """Failed logins for one login name, from one client address or (address ``*``)
    from all of them, in the current window; and the lock they led to.

    Keyed by the name as typed rather than by account, so that a name nobody owns
    counts and locks exactly like a real one.
    """

    __tablename__ = "login_failures"

    name: Mapped[str] = mapped_column(String(254), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

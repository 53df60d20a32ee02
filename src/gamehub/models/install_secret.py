from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, UTCDateTime, utcnow


class InstallSecret(Base):
    """A secret this install generated for itself on its first start (when none is
    configured), shared by every worker and host on the database."""

    __tablename__ = "install_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

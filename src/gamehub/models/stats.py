from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base


class Stats(Base):
    """The seed's per-user stats. Earnings are minor units and may go negative (losses)."""

    __tablename__ = "stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    win_count: Mapped[int] = mapped_column(Integer, default=0)
    loss_count: Mapped[int] = mapped_column(Integer, default=0)
    earnings: Mapped[int] = mapped_column(BigInteger, default=0)

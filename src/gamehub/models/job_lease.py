from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, UTCDateTime


class JobLease(Base):
    """Who runs a periodic job's current round, until when, and when the next is due.

    One row per job, claimed by one conditional UPDATE per round (gamehub.core.jobs),
    so that a job runs once per interval across all workers and hosts.
    """

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "host:pid:random" of the worker that claimed the last round.
    holder: Mapped[str] = mapped_column(String(128))
    # The holder's claim lapses here, if it dies before it releases it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The start of the next interval: no round is claimed before it.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    runs: Mapped[int] = mapped_column(BigInteger, default=0)

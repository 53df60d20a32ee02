"""Credentials of trusted services, and the sessions matchmaking reports to us."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, UTCDateTime, utcnow


class ServiceCredential(Base):
    """A matchmaking or game server's key, kept only as a SHA-256 digest."""

    __tablename__ = "service_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters, so that an operator can tell keys apart.
    key_hint: Mapped[str] = mapped_column(String(16))
    # Comma-separated: "matchmaking,game-server".
    scopes: Mapped[str] = mapped_column(String(255))
    # Most one game may pay out to its winners through /terminate's settle_wallets, in
    # minor units; 0 forbids settling, NULL follows GAMEHUB_SERVICE_MAX_PAYOUT_MINOR.
    max_payout_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExternalGameStatus(StrEnum):
    ACTIVE = "active"
    TERMINATED = "terminated"


class ExternalGame(Base):
    """A game run by a game server: registered by /update, closed once by /terminate."""

    __tablename__ = "external_games"
    __table_args__ = (Index("ix_external_games_status_expires_at", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The matchmaker's session id ("K3X9QZ"): unique, so /terminate happens once.
    game_id: Mapped[str] = mapped_column(String(64), unique=True)
    game: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), default=ExternalGameStatus.ACTIVE.value)
    num_players: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of user ids.
    players: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_by: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the results /terminate recorded: a repeat must carry the same ones.
    results_digest: Mapped[str | None] = mapped_column(String(64))
    wallets_settled: Mapped[bool] = mapped_column(Boolean, default=False)

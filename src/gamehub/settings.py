"""One typed Settings object, read from the environment (prefix ``GAMEHUB_``)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gamehub.games.fairness import parse_reward_table

DEFAULT_JWT_SECRET = "insecure-development-secret-change-me-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAMEHUB_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./gamehub.db"
    # Unset means the in-process backend: cache, counters and pub/sub live in this process.
    redis_url: str | None = None
    # Key prefix in Redis, so that several deployments (or test runs) can share a server.
    redis_prefix: str = "gamehub:"

    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    api_token_prefix: str = "gh_"

    # Account lockout after consecutive failures, and a per-IP ceiling on failures.
    lockout_threshold: int = Field(default=5, gt=0)
    lockout_seconds: int = Field(default=15 * 60, gt=0)
    ip_failure_limit: int = Field(default=50, gt=0)
    ip_failure_window_seconds: int = Field(default=15 * 60, gt=0)

    # Empty means any domain; otherwise registration needs an email in one of these.
    allowed_email_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    email_verification_required: bool = False
    verification_token_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    password_reset_ttl_seconds: int = Field(default=3600, gt=0)

    # smtp://user:pass@host:port, or smtps:// for implicit TLS; unset writes mail to the log.
    smtp_url: str | None = None
    smtp_sender: str = "Game Hub <no-reply@gamehub.local>"
    public_base_url: str = "http://127.0.0.1:8000"

    user_cache_ttl_seconds: int = Field(default=300, gt=0)
    max_request_body_bytes: int = Field(default=64 * 1024, gt=0)

    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = Field(default=3, gt=0)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, gt=0)

    # Money. Amounts here are in minor units (cents): 100 = KES 1.00.
    currency: str = Field(default="KES", pattern=r"^[A-Z]{3}$")
    max_amount_minor: int = Field(default=25_000_000, gt=0)
    welcome_bonus_minor: int = Field(default=0, ge=0)
    withdrawal_min_minor: int = Field(default=1_000, gt=0)
    withdrawal_max_minor: int = Field(default=15_000_000, gt=0)
    withdrawal_daily_limit_minor: int = Field(default=30_000_000, gt=0)
    idempotency_ttl_seconds: int = Field(default=48 * 3600, ge=24 * 3600)

    # M-Pesa (Daraja). Unset base URL: deposits and withdrawals answer 503. The other
    # defaults are the sandbox's, which `gamehub mpesa-sim` also uses.
    mpesa_base_url: str | None = None
    mpesa_consumer_key: str = "gamehub-sim-key"
    mpesa_consumer_secret: str = "gamehub-sim-secret"
    mpesa_shortcode: str = "174379"
    mpesa_passkey: str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
    mpesa_b2c_shortcode: str = "600997"
    mpesa_initiator_name: str = "testapi"
    mpesa_initiator_password: str = "Safaricom999!*!"
    mpesa_certificate_path: str = "var/mpesa-sim/simulator-cert.pem"
    mpesa_timeout_seconds: float = Field(default=10.0, gt=0)
    # Where Daraja reaches us, and the secret path segment of every callback URL.
    mpesa_callback_base_url: str = "http://127.0.0.1:8000"
    mpesa_callback_secret: str = ""
    mpesa_callback_allowed_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Payments still pending after this long are asked about (STK query, Transaction Status).
    mpesa_reconcile_after_seconds: int = Field(default=120, ge=0)
    # How often each worker looks for such payments; 0 turns the background job off.
    mpesa_reconcile_interval_seconds: float = Field(default=30.0, ge=0)

    # Games. The Spin and Win table is JSON, e.g. [{"multiplier": "2.0", "weight": 18}, ...];
    # unset is the published default (docs/fairness.md).
    spin_reward_table: str | None = None
    # Basis points: 500 = 5%.
    roulette_rake_bps: int = Field(default=500, ge=0, le=5000)
    roulette_side_bet_edge_bps: int = Field(default=500, ge=0, le=5000)
    roulette_turn_seconds: int = Field(default=30, gt=0)
    # How often each worker pulls for players whose turn has run out; 0 turns it off.
    game_jobs_interval_seconds: float = Field(default=1.0, ge=0)

    # Trust X-Forwarded-For only from these proxy addresses.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Live events, stats and leaderboards, matchmaking and game servers.
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_max_connections_per_user: int = Field(default=5, gt=0)
    # Anonymous room watchers: how many streams one client address may hold open (across
    # workers, with Redis), and how many streams of any kind a worker may hold before it
    # turns watchers away, so that they cannot take every request slot it has.
    sse_max_watchers_per_address: int = Field(default=10, gt=0)
    sse_max_streams_per_worker: int = Field(default=5_000, gt=0)
    # The single-use ticket that lets EventSource (which cannot send headers) connect.
    sse_ticket_ttl_seconds: int = Field(default=30, gt=0)
    # What a reconnecting client can catch up on: events kept per user or room, and
    # for how long after the last one.
    events_history_size: int = Field(default=100, gt=0)
    events_history_ttl_seconds: int = Field(default=600, gt=0)
    # How long a leaderboard page may be served from the cache; 0 never caches.
    leaderboard_cache_seconds: int = Field(default=300, ge=0)
    # How often the top of each board is written to the leaderboard table; 0 never.
    leaderboard_snapshot_interval_seconds: float = Field(default=3600.0, ge=0)
    leaderboard_snapshot_size: int = Field(default=100, gt=0, le=1000)
    # A game session /update registered is dropped this long after its last update.
    game_session_ttl_seconds: int = Field(default=300, gt=0)
    service_key_prefix: str = "ghs_"

    @field_validator(
        "allowed_email_domains", "trusted_proxies", "mpesa_callback_allowed_ips", mode="before"
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("spin_reward_table")
    @classmethod
    def _valid_reward_table(cls, value: str | None) -> str | None:
        if value is not None:
            parse_reward_table(value)
        return value

    @model_validator(mode="after")
    def _refuse_weak_production_secret(self) -> Settings:
        if self.environment == "production" and self.jwt_secret in ("", DEFAULT_JWT_SECRET):
            raise ValueError(
                "GAMEHUB_JWT_SECRET must be set to a strong secret "
                "when GAMEHUB_ENVIRONMENT=production"
            )
        if self.environment == "production" and len(self.jwt_secret) < 32:  # RFC 7518 3.2
            raise ValueError("GAMEHUB_JWT_SECRET must be at least 32 characters in production")
        if (
            self.environment == "production"
            and self.mpesa_base_url is not None
            and len(self.mpesa_callback_secret) < 32
        ):
            raise ValueError(
                "GAMEHUB_MPESA_CALLBACK_SECRET must be at least 32 characters in production"
            )
        return self

    @property
    def callback_secret(self) -> str:
        """The callback path secret; outside production it may be derived from the JWT
        secret, so that every worker agrees on it without more configuration."""
        if self.mpesa_callback_secret:
            return self.mpesa_callback_secret
        return hashlib.sha256(f"mpesa-callback:{self.jwt_secret}".encode()).hexdigest()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""One typed Settings object, read from the environment (prefix ``GAMEHUB_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# RFC 7518 3.2: an HMAC key at least as long as the hash output.
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAMEHUB_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./gamehub.db"
    # Unset means the in-process backend: cache, counters and pub/sub live in this process.
    redis_url: str | None = None
    # Key prefix in Redis, so that several deployments (or test runs) can share a server.
    redis_prefix: str = "gamehub:"
    # Connections per worker; past that a request waits (up to the timeout) for one to be
    # free, then carries on without Redis.
    redis_max_connections: int = Field(default=64, gt=0)
    redis_pool_timeout_seconds: float = Field(default=2.0, gt=0)

    # Empty: generated on the first start and kept in the database (install_secrets), so
    # every install has its own and all its workers agree. Production must set it.
    jwt_secret: str = ""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    api_token_prefix: str = "gh_"

    # Login failures lock the pair (name, client address) after lockout_threshold within
    # lockout_seconds; lockout_global_threshold failures from all addresses together lock
    # the name for everyone. Unknown names count the same way. A per-IP ceiling on
    # failures across all names stops one address from trying many.
    lockout_threshold: int = Field(default=5, gt=0)
    lockout_seconds: int = Field(default=15 * 60, gt=0)
    lockout_global_threshold: int = Field(default=100, gt=0)
    ip_failure_limit: int = Field(default=50, gt=0)
    ip_failure_window_seconds: int = Field(default=15 * 60, gt=0)
    # POST /password/forgot requests one client address may make in an hour.
    password_forgot_per_address_per_hour: int = Field(default=10, gt=0)

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

    # argon2id cost of new hashes; the defaults are OWASP's (19 MiB, 2 passes, 1 lane).
    # Stored hashes weaker in any of the three are rehashed at the next login; stronger
    # ones verify and stay as they are.
    argon2_time_cost: int = Field(default=2, gt=0)
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_parallelism: int = Field(default=1, gt=0)

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
    # Empty: generated on the first start and kept in the database, like jwt_secret.
    mpesa_callback_secret: str = ""
    mpesa_callback_allowed_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Off: a callback is evidence, confirmed with M-Pesa (STK query, Transaction Status)
    # before money moves. On: callbacks from the allowed addresses are believed as they are.
    mpesa_trust_callback_allowlist: bool = False
    # A deposit M-Pesa has not answered for this long ends as expired (a confirmed late
    # success is still credited).
    mpesa_deposit_expire_after_seconds: int = Field(default=3600, gt=0)
    # "No such payment" answers to Transaction Status before a withdrawal goes to review.
    mpesa_status_not_found_attempts: int = Field(default=3, gt=0)
    # Payments still pending after this long are asked about (STK query, Transaction Status).
    mpesa_reconcile_after_seconds: int = Field(default=120, ge=0)
    # How often such payments are looked for (by one worker of all, gamehub.core.jobs);
    # 0 turns the background job off.
    mpesa_reconcile_interval_seconds: float = Field(default=30.0, ge=0)

    # Games. The Spin and Win table is JSON, e.g. [{"multiplier": "2.0", "weight": 18}, ...];
    # unset is the published default (docs/fairness.md). The games check it when the
    # runtime starts (gamehub.composition): the rule of a fair table is theirs.
    spin_reward_table: str | None = None
    # Basis points: 500 = 5%.
    roulette_rake_bps: int = Field(default=500, ge=0, le=5000)
    roulette_side_bet_edge_bps: int = Field(default=500, ge=0, le=5000)
    roulette_turn_seconds: int = Field(default=30, gt=0)
    # A room that has not filled this long after it opened is cancelled and refunded.
    roulette_waiting_room_seconds: int = Field(default=600, gt=0)
    # How often players whose turn has run out are pulled for and rooms that did not fill
    # in time cancelled (by one worker of all, gamehub.core.jobs); 0 turns it off.
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
    # GET /health answers with the result of one database probe per worker this recent;
    # 0 probes on every request.
    health_probe_seconds: float = Field(default=1.0, ge=0)
    # How often the top of each board is written to the leaderboard table; 0 never.
    leaderboard_snapshot_interval_seconds: float = Field(default=3600.0, ge=0)
    leaderboard_snapshot_size: int = Field(default=100, gt=0, le=1000)
    # A game session /update registered is dropped this long after its last update.
    game_session_ttl_seconds: int = Field(default=300, gt=0)
    service_key_prefix: str = "ghs_"
    # Most one game may pay its winners through /terminate (settle_wallets), for service
    # keys without a limit of their own, in minor units; 0: such keys cannot settle.
    service_max_payout_minor: int = Field(default=0, ge=0)

    @field_validator(
        "allowed_email_domains", "trusted_proxies", "mpesa_callback_allowed_ips", mode="before"
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_weak_production_secret(self) -> Settings:
        if self.mpesa_trust_callback_allowlist and not self.mpesa_callback_allowed_ips:
            raise ValueError(
                "GAMEHUB_MPESA_TRUST_CALLBACK_ALLOWLIST needs GAMEHUB_MPESA_CALLBACK_ALLOWED_IPS: "
                "without an address allow-list anyone who learns a callback URL could order "
                "a credit or a refund"
            )
        if self.environment != "production":
            return self
        if len(self.jwt_secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"GAMEHUB_JWT_SECRET must be set to a secret of at least {MIN_SECRET_LENGTH} "
                "characters when GAMEHUB_ENVIRONMENT=production"
            )
        if self.mpesa_base_url is not None and len(self.mpesa_callback_secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"GAMEHUB_MPESA_CALLBACK_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                "in production"
            )
        return self

    @property
    def callback_secret(self) -> str:
        """The callback path secret: configured, or the install's generated one (the
        runtime fills it in at start-up). Never derived from another secret."""
        if not self.mpesa_callback_secret:
            raise RuntimeError("secrets are resolved at start-up: build a Runtime first")
        return self.mpesa_callback_secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

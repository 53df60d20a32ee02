"""One typed Settings object, read from the environment (prefix ``GAMEHUB_``)."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import limits
from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# RFC 7518 3.2: an HMAC key at least as long as the hash output.
MIN_SECRET_LENGTH = 32

# Every rate limit by name, with its default (the `limits` notation: "10/minute", several
# joined by ";"). GAMEHUB_RATE_LIMITS overrides any of them: "deposit_phone=3/10minute,
# spin_user=20/second". Many mobile players share one address behind carrier-grade NAT,
# so the per-address limits are generous and the per-account and per-phone ones strict.
RATE_LIMIT_DEFAULTS: dict[str, str] = {
    # POST /register and /create_user, per client address and per email address named
    # (each attempt with a taken address mails its owner).
    "register_ip": "10/minute;100/hour",
    "register_email": "3/hour",
    # POST /login, per client address and per login name (on top of the failed-login
    # lockout: these count every attempt, and each one costs an argon2 hash).
    "login_ip": "60/minute",
    "login_account": "10/minute",
    # POST /password/forgot, per client address and per email address named.
    "password_forgot_ip": "30/hour",
    "password_forgot_email": "3/hour",
    # POST /email/verify/request, per client address and per account.
    "verify_email_ip": "30/hour",
    "verify_email_user": "5/hour",
    # POST /deposit, per account and per phone number, whoever asks: each one is an STK
    # prompt on that phone.
    "deposit_user": "5/10minute",
    "deposit_phone": "3/10minute",
    # Per account.
    "withdraw_user": "5/10minute",
    "spin_user": "10/second",
    "join_user": "30/minute",
    "place_bet_user": "60/minute",
    "pull_trigger_user": "60/minute",
    "events_ticket_user": "30/minute",
}

# Settings that may be read from a file instead: GAMEHUB_<NAME>_FILE names the file (a
# Docker or Kubernetes secret), whose content less its trailing newline is the value.
SECRET_FILE_SETTINGS = (
    "database_url",
    "redis_url",
    "jwt_secret",
    "smtp_url",
    "mpesa_consumer_key",
    "mpesa_consumer_secret",
    "mpesa_passkey",
    "mpesa_initiator_password",
    "mpesa_callback_secret",
)


class SecretFileError(ValueError):
    """A GAMEHUB_*_FILE setting that cannot be used: it says which and why."""


class _SecretFiles(PydanticBaseSettingsSource):
    """GAMEHUB_<NAME>_FILE from the environment: the file's content is the setting."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads every field at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environment = {name.upper(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for name in SECRET_FILE_SETTINGS:
            variable = f"GAMEHUB_{name.upper()}"
            path = environment.get(f"{variable}_FILE")
            if not path:
                continue
            if environment.get(variable):
                raise SecretFileError(
                    f"{variable} and {variable}_FILE are both set: set one of them"
                )
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretFileError(
                    f"{variable}_FILE: cannot read {path}: {exc.strerror or exc}"
                ) from exc
            # Files written by editors and `echo` end with a newline the secret lacks.
            value = text.rstrip("\r\n")
            if not value:
                raise SecretFileError(f"{variable}_FILE: {path} is empty")
            values[name] = value
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAMEHUB_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # PostgreSQL through PgBouncer in transaction pooling: add ?pgbouncer=true to the URL.
    database_url: str = "sqlite+aiosqlite:///./gamehub.db"
    # A read replica of database_url (e.g. a PostgreSQL streaming replica) for the display
    # routes that decide nothing: history, stats, wallet movements. Unset: all on the primary.
    database_read_url: str | None = None
    # After a user's committed write, how long their reads go to the primary instead.
    read_after_write_seconds: int = Field(default=5, gt=0)
    # Each worker's pool (PostgreSQL, MariaDB): connections kept open, and how many more it
    # may open under load. A server sees up to hosts x workers x (size + overflow) of them.
    database_pool_size: int = Field(default=10, gt=0)
    database_max_overflow: int = Field(default=20, ge=0)
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
    # A withdrawal above this many cents waits, its amount held, for a finance operator's
    # approval before M-Pesa hears of it (POST /admin/withdrawals/{id}/approve); 0 is off.
    withdrawal_approval_above_minor: int = Field(default=0, ge=0)
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

    # Games. The first configuration of an install, which the migration that brought
    # versioned tables (0014) writes into the database; after it, operators change the
    # games through the admin API (docs/operators.md) and these are not read again.
    # The Spin and Win table is JSON, e.g. [{"multiplier": "2.0", "weight": 18}, ...];
    # unset is the published default (docs/fairness.md).
    spin_reward_table: str | None = None
    # Basis points: 500 = 5%.
    roulette_rake_bps: int = Field(default=500, ge=0, le=5000)
    roulette_side_bet_edge_bps: int = Field(default=500, ge=0, le=5000)
    # The return to player a new Spin and Win table must have, in basis points (both
    # included): the admin API refuses a table outside them.
    spin_rtp_min_bps: int = Field(default=8000, ge=0, le=10000)
    spin_rtp_max_bps: int = Field(default=9900, ge=0, le=10000)
    roulette_turn_seconds: int = Field(default=30, gt=0)
    # A room that has not filled this long after it opened is cancelled and refunded.
    roulette_waiting_room_seconds: int = Field(default=600, gt=0)
    # How often players whose turn has run out are pulled for and rooms that did not fill
    # in time cancelled (by one worker of all, gamehub.core.jobs); 0 turns it off.
    game_jobs_interval_seconds: float = Field(default=1.0, ge=0)

    # Taxes and duties (docs/operators.md, "Taxes"), in basis points (1500 = 15%); each
    # is off at 0. Excise on stakes is withheld from the amount staked, tax on deposits
    # from the amount credited; tax on withdrawals is charged on top of the amount sent;
    # tax on winnings is withheld from the payout less the stake in play.
    tax_stake_bps: int = Field(default=0, ge=0, le=5000)
    tax_deposit_bps: int = Field(default=0, ge=0, le=5000)
    tax_withdrawal_bps: int = Field(default=0, ge=0, le=5000)
    tax_winnings_bps: int = Field(default=0, ge=0, le=5000)

    # Player protection (docs/operators.md). Loosening a limit (raising or removing it)
    # takes effect this long after the player asks; tightening one, at once.
    protection_cooling_off_hours: int = Field(default=24, ge=0)
    # No deposit or bet without a date of birth, nor from a player younger than this.
    dob_required: bool = True
    minimum_age: int = Field(default=18, ge=0, le=120)
    # A play session, for the reality check, ends after this long without a bet.
    protection_session_gap_minutes: int = Field(default=30, gt=0)
    # How long a player's "no controls, old enough" standing may be served from the
    # cache: every change to it also drops it at once.
    protection_clear_cache_seconds: int = Field(default=60, gt=0)
    # KYC: which actions need a verified account. A threshold of 0 leaves deposits free.
    kyc_required_for_play: bool = False
    kyc_required_for_withdrawals: bool = False
    kyc_deposit_threshold_minor: int = Field(default=0, ge=0)
    # Deposits, bets and joins only from accounts whose email is verified.
    email_verification_required_for_play: bool = False
    # Withdrawals only to a phone number that completed a deposit into the account (M-Pesa's
    # approval proves it is the player's) or that an operator verified.
    withdraw_to_proven_phones_only: bool = True
    # A phone number registers one account, unless an operator allowed it to be shared.
    one_account_per_phone: bool = True

    # Trust X-Forwarded-For only from these proxy addresses or networks ("127.0.0.1",
    # "10.0.0.0/8"): the client address (rate limits, lockout, callbacks' source) is then
    # the last hop that is not one of them. Empty: the peer address, whatever it forwards.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Overrides of RATE_LIMIT_DEFAULTS: "name=limit,name=limit" (see the README).
    rate_limits: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # Browser and edge. Origins allowed to call the API from a browser (CORS), e.g.
    # "https://play.example.com"; "*" allows any; empty (the default) sends no CORS
    # headers, so browsers keep other origins out.
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The deployment is reached over HTTPS only (a TLS-terminating proxy in front): every
    # response then carries Strict-Transport-Security for this many seconds.
    behind_tls: bool = False
    hsts_max_age_seconds: int = Field(default=365 * 24 * 3600, gt=0)

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

    # Operations (docs/operations.md). Logs: one JSON object a line, or coloured console
    # lines for a person; unset is console in development and JSON elsewhere.
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One line per request: method, route, status, latency, request and user id.
    access_log: bool = True
    # How often the ledger's invariants are checked for the metrics (a full scan of the
    # entries: keep it rare on a large ledger), and how often payments waiting on M-Pesa
    # or a person are counted; 0 turns either off.
    ledger_check_interval_seconds: float = Field(default=600.0, ge=0)
    payment_gauges_interval_seconds: float = Field(default=60.0, ge=0)
    # How often the top of each board is written to the leaderboard table; 0 never.
    leaderboard_snapshot_interval_seconds: float = Field(default=3600.0, ge=0)
    leaderboard_snapshot_size: int = Field(default=100, gt=0, le=1000)
    # A game session /update registered is dropped this long after its last update.
    game_session_ttl_seconds: int = Field(default=300, gt=0)
    service_key_prefix: str = "ghs_"
    # Most one game may pay its winners through /terminate (settle_wallets), for service
    # keys without a limit of their own, in minor units; 0: such keys cannot settle.
    service_max_payout_minor: int = Field(default=0, ge=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _SecretFiles(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @field_validator(
        "allowed_email_domains",
        "trusted_proxies",
        "mpesa_callback_allowed_ips",
        "cors_allowed_origins",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"GAMEHUB_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from None
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and (
                not origin.startswith(("http://", "https://")) or origin.count("/") != 2
            ):
                raise ValueError(
                    f"GAMEHUB_CORS_ALLOWED_ORIGINS: {origin!r} is not an origin "
                    "(scheme://host[:port], no path) or *"
                )
        return value

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _parse_rate_limits(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        overrides: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            name, equals, limit = entry.partition("=")
            if not equals:
                raise ValueError(
                    f"GAMEHUB_RATE_LIMITS: {entry!r} is not name=limit (deposit_phone=3/10minute)"
                )
            overrides[name.strip()] = limit.strip()
        return overrides

    @field_validator("rate_limits")
    @classmethod
    def _known_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        for name, limit in value.items():
            if name not in RATE_LIMIT_DEFAULTS:
                raise ValueError(
                    f"GAMEHUB_RATE_LIMITS: no rate limit is called {name!r}; "
                    f"the names are {', '.join(RATE_LIMIT_DEFAULTS)}"
                )
            parse_rate_limit(name, limit)
        return value

    @model_validator(mode="after")
    def _refuse_weak_production_secret(self) -> Settings:
        if self.mpesa_trust_callback_allowlist and not self.mpesa_callback_allowed_ips:
            raise ValueError(
                "GAMEHUB_MPESA_TRUST_CALLBACK_ALLOWLIST needs GAMEHUB_MPESA_CALLBACK_ALLOWED_IPS: "
                "without an address allow-list anyone who learns a callback URL could order "
                "a credit or a refund"
            )
        if self.spin_rtp_min_bps > self.spin_rtp_max_bps:
            raise ValueError(
                "GAMEHUB_SPIN_RTP_MIN_BPS must not be above GAMEHUB_SPIN_RTP_MAX_BPS: no "
                "reward table could be taken"
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

    def rate_limit(self, name: str) -> list[limits.RateLimitItem]:
        """The limit called ``name``: its override, or its default."""
        return parse_rate_limit(name, self.rate_limits.get(name, RATE_LIMIT_DEFAULTS[name]))

    @property
    def logs_as_json(self) -> bool:
        if self.log_format is None:
            return self.environment != "development"
        return self.log_format == "json"

    @property
    def callback_secret(self) -> str:
        """The callback path secret: configured, or the install's generated one (the
        runtime fills it in at start-up). Never derived from another secret."""
        if not self.mpesa_callback_secret:
            raise RuntimeError("secrets are resolved at start-up: build a Runtime first")
        return self.mpesa_callback_secret


def parse_rate_limit(name: str, text: str) -> list[limits.RateLimitItem]:
    """``text`` ("10/minute;100/hour") as the library's items, or a ValueError that says
    which limit is wrong and how it should read."""
    try:
        items = limits.parse_many(text)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(
            f"GAMEHUB_RATE_LIMITS: {name}={text!r} is not a rate limit: write a positive "
            "count per period, like 3/10minute or 10/minute;100/hour"
        )
    return items


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""Configuration from the environment, and the refusals that protect production."""

from __future__ import annotations

import re
from pathlib import Path

import limits
import pytest
from pydantic import ValidationError

from gamehub.settings import RATE_LIMIT_DEFAULTS, SecretFileError, Settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GAMEHUB_DATABASE_URL", "GAMEHUB_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.redis_url is None
    assert settings.lockout_threshold == 5
    assert settings.lockout_seconds == 900
    assert settings.user_cache_ttl_seconds == 300


def test_values_come_from_gamehub_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEHUB_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("GAMEHUB_LOCKOUT_THRESHOLD", "7")
    monkeypatch.setenv("GAMEHUB_ALLOWED_EMAIL_DOMAINS", "DS.Study.IITM.ac.in, es.study.iitm.ac.in")
    monkeypatch.setenv("GAMEHUB_EMAIL_VERIFICATION_REQUIRED", "true")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.lockout_threshold == 7
    assert settings.allowed_email_domains == ["ds.study.iitm.ac.in", "es.study.iitm.ac.in"]
    assert settings.email_verification_required is True


@pytest.mark.parametrize("secret", ["", "short-but-set"])
def test_production_refuses_an_empty_or_short_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="GAMEHUB_JWT_SECRET"):
        Settings(environment="production", jwt_secret=secret, _env_file=None)  # type: ignore[call-arg]


def test_production_starts_with_a_real_secret() -> None:
    settings = Settings(environment="production", jwt_secret="s" * 48, _env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "production"


def test_production_with_mpesa_refuses_to_generate_the_callback_secret() -> None:
    with pytest.raises(ValidationError, match="GAMEHUB_MPESA_CALLBACK_SECRET"):
        Settings(  # type: ignore[call-arg]
            environment="production",
            jwt_secret="s" * 48,
            mpesa_base_url="https://api.safaricom.co.ke",
            _env_file=None,
        )


def test_there_is_no_default_secret_to_fall_back_on() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.jwt_secret == ""
    assert settings.mpesa_callback_secret == ""
    # Nothing is derived from anything: until the runtime has loaded (or generated)
    # the install's secret, there is no callback secret at all.
    with pytest.raises(RuntimeError, match="start-up"):
        _ = settings.callback_secret


def test_nonsense_numbers_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(lockout_threshold=0, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(access_token_ttl_seconds=-5, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("environment", "log_format", "as_json"),
    [
        ("development", None, False),
        ("test", None, True),
        ("production", None, True),
        ("development", "json", True),
        ("test", "console", False),
    ],
)
def test_logs_are_console_lines_in_development_and_json_elsewhere(
    monkeypatch: pytest.MonkeyPatch, environment: str, log_format: str | None, as_json: bool
) -> None:
    monkeypatch.delenv("GAMEHUB_LOG_FORMAT", raising=False)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=environment,
        log_format=log_format,
        jwt_secret="s" * 40,
    )
    assert settings.logs_as_json is as_json
    assert settings.access_log is True


# Rate limits, trusted proxies and secrets read from files: refused at start-up when wrong.


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("deposit_phone", "is not name=limit"),
        ("deposit_phones=3/10minute", "no rate limit is called 'deposit_phones'"),
        ("deposit_phone=3 per fortnight", "is not a rate limit"),
        ("deposit_phone=0/minute", "is not a rate limit"),
    ],
)
def test_a_wrong_rate_limit_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, value: str, words: str
) -> None:
    monkeypatch.setenv("GAMEHUB_RATE_LIMITS", value)
    with pytest.raises(ValidationError, match=re.escape(words)):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_rate_limit_overrides_replace_only_the_limits_they_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAMEHUB_RATE_LIMITS", "deposit_phone=2/minute, login_ip=5/second;50/hour")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [str(i) for i in settings.rate_limit("deposit_phone")] == ["2 per 1 minute"]
    assert [str(i) for i in settings.rate_limit("login_ip")] == ["5 per 1 second", "50 per 1 hour"]
    assert [str(i) for i in settings.rate_limit("spin_user")] == [
        str(i) for i in limits.parse_many(RATE_LIMIT_DEFAULTS["spin_user"])
    ]


def test_trusted_proxies_are_addresses_or_networks() -> None:
    listed = "127.0.0.1, 10.0.0.0/8,::1"
    settings = Settings(_env_file=None, trusted_proxies=listed)  # type: ignore[call-arg]
    assert settings.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    with pytest.raises(ValidationError, match="GAMEHUB_TRUSTED_PROXIES: 'nginx'"):
        Settings(_env_file=None, trusted_proxies="nginx")  # type: ignore[call-arg]


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "jwt"
    secret.write_text("s3cret-from-a-file-" + "k" * 32 + "\n")
    monkeypatch.delenv("GAMEHUB_JWT_SECRET", raising=False)
    monkeypatch.setenv("GAMEHUB_JWT_SECRET_FILE", str(secret))
    password = tmp_path / "initiator"
    password.write_text("Safaricom999!*!\r\n")
    monkeypatch.setenv("GAMEHUB_MPESA_INITIATOR_PASSWORD_FILE", str(password))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.jwt_secret == "s3cret-from-a-file-" + "k" * 32
    assert settings.mpesa_initiator_password == "Safaricom999!*!"


def test_a_missing_or_empty_secret_file_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GAMEHUB_JWT_SECRET", raising=False)
    monkeypatch.setenv("GAMEHUB_JWT_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(SecretFileError, match=r"GAMEHUB_JWT_SECRET_FILE: cannot read .*absent"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("GAMEHUB_JWT_SECRET_FILE", str(empty))
    with pytest.raises(SecretFileError, match="is empty"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_secret_set_both_ways_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "jwt"
    secret.write_text("x" * 40)
    monkeypatch.setenv("GAMEHUB_JWT_SECRET", "y" * 40)
    monkeypatch.setenv("GAMEHUB_JWT_SECRET_FILE", str(secret))
    with pytest.raises(SecretFileError, match="both set"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_reward_tables_return_bounds_must_leave_room_for_a_table() -> None:
    assert Settings().spin_rtp_min_bps == 8000
    assert Settings().spin_rtp_max_bps == 9900
    with pytest.raises(ValueError, match="GAMEHUB_SPIN_RTP_MIN_BPS"):
        Settings(spin_rtp_min_bps=9000, spin_rtp_max_bps=8500)

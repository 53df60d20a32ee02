"""Account rules: registration, login with lockout, token rotation, passwords, email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts import schemas
from gamehub.accounts.passwords import is_common_password
from gamehub.accounts.repository import AccountRepository
from gamehub.accounts.tokens import digest, new_family_id, new_secret
from gamehub.core.cache import get_json, set_json
from gamehub.core.db import after_commit
from gamehub.core.runtime import Runtime
from gamehub.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidCredentials,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from gamehub.models import Account, RefreshToken, User, VerificationToken
from gamehub.models.ledger import AccountKind, Category
from gamehub.wallet.ledger import Ledger, Posting

EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"
# How many verification or reset mails one account may trigger in an hour.
MAIL_PER_HOUR = 5


class RefreshTokenReused(Unauthorized):
    # The family's revocation must survive the error response.
    commit_before_raising = True

    def __init__(self) -> None:
        super().__init__("Refresh token was already used; every session of it is revoked")


def user_cache_key(username: str) -> str:
    return f"user:{username.lower()}"


def revoked_jti_key(jti: str) -> str:
    return f"revoked:jti:{jti}"


def revoked_family_key(family_id: str) -> str:
    return f"revoked:family:{family_id}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


class AccountService:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.settings = runtime.settings
        self.repo = AccountRepository(session)

    # Registration

    async def register(self, data: schemas.RegisterIn) -> tuple[User, IssuedTokens]:
        email = self._check_email(data.email)
        self._check_password(data.password, data.username)
        taken = await self.repo.taken(data.username, email, data.roll_number)
        if taken is not None:
            raise Conflict(f"That {taken.replace('_', ' ')} is already registered")
        user = User(
            username=data.username,
            username_key=data.username.lower(),
            email=email,
            full_name=data.full_name,
            roll_number=data.roll_number,
            phone=data.phone,
            password_hash=await self.runtime.passwords.hash_async(data.password),
            is_active=True,
            is_admin=False,
            email_verified=False,
            failed_login_attempts=0,
        )
        try:
            wallet = await self.repo.add_user_with_accounts(user, self.settings.currency)
        except IntegrityError as exc:
            # Two registrations raced past the check above; the constraint decided.
            raise Conflict("That username or email is already registered") from exc
        if self.settings.welcome_bonus_minor:
            ledger = Ledger(self.session)
            bonus = await ledger.system_account(AccountKind.BONUS, self.settings.currency)
            await ledger.post(
                Category.BONUS,
                [
                    Posting(bonus, -self.settings.welcome_bonus_minor),
                    Posting(wallet, self.settings.welcome_bonus_minor),
                ],
                reference=f"welcome-bonus:{user.id}",
                description="Welcome bonus",
            )
        # Counted against the hourly mail allowance like every later request.
        if email is not None and await self._mail_allowed(user.id):
            await self._send_verification_mail(user)
        return user, await self.issue_tokens(user)

    def _check_email(self, raw: str | None) -> str | None:
        allowed = self.settings.allowed_email_domains
        if raw is None:
            if allowed:
                raise ValidationFailed(
                    "An email address in one of these domains is required: " + ", ".join(allowed)
                )
            return None
        try:
            email = validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValidationFailed(f"email: {exc}") from exc
        if allowed and email.rsplit("@", 1)[1] not in allowed:
            raise ValidationFailed("email: registration is open to " + ", ".join(allowed) + " only")
        return email

    @staticmethod
    def _check_password(password: str, username: str) -> None:
        if is_common_password(password) or password.lower() == username.lower():
            raise ValidationFailed("password: too common or too easy to guess; choose another")

    # Login and tokens

    async def login(self, identifier: str, password: str, client_ip: str) -> tuple[User, Account]:
        """Check credentials under the account lockout and the per-IP failure ceiling."""
        now = _utcnow()
        ip_key = f"login-failures:ip:{client_ip}"
        cache = self.runtime.cache
        raw_ip_failures = await cache.get(ip_key)
        if raw_ip_failures is not None and int(raw_ip_failures) >= self.settings.ip_failure_limit:
            raise TooManyRequests(
                "Too many failed logins from this address; try again later",
                await cache.ttl(ip_key) or self.settings.ip_failure_window_seconds,
            )
        user = await self.repo.user_by_login(identifier)
        if user is not None and user.locked_until is not None and user.locked_until > now:
            raise TooManyRequests(
                "Account is locked after repeated failed logins",
                int((user.locked_until - now).total_seconds()) + 1,
            )
        stored_hash = user.password_hash if user is not None else None
        if not await self.runtime.passwords.verify_async(stored_hash, password):
            await cache.incr(ip_key, self.settings.ip_failure_window_seconds)
            if user is not None:
                failures = await self.repo.count_failed_login(user.id)
                if failures >= self.settings.lockout_threshold:
                    await self.repo.lock_user(
                        user.id, now + timedelta(seconds=self.settings.lockout_seconds)
                    )
            raise InvalidCredentials()
        assert user is not None
        if not user.is_active:
            raise Forbidden("This account is disabled")
        user.failed_login_attempts = 0
        user.locked_until = None
        user.last_login = now
        if self.runtime.passwords.needs_rehash(user.password_hash):
            user.password_hash = await self.runtime.passwords.hash_async(password)
        wallet = await self.repo.wallet(user.id, self.settings.currency)
        await self.cache_public_user(user)
        return user, wallet

    async def issue_tokens(self, user: User, family_id: str | None = None) -> IssuedTokens:
        family_id = family_id or new_family_id()
        refresh = new_secret()
        await self.repo.add_refresh_token(
            RefreshToken(
                user_id=user.id,
                family_id=family_id,
                token_hash=digest(refresh),
                expires_at=_utcnow() + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
                revoked=False,
            )
        )
        access = self.runtime.access_tokens.issue(user.id, family_id)
        return IssuedTokens(access, refresh, self.runtime.access_tokens.ttl_seconds)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        now = _utcnow()
        stored = await self.repo.refresh_token_by_hash(digest(refresh_token))
        if stored is None or stored.revoked or stored.expires_at <= now:
            raise Unauthorized("Invalid or expired refresh token")
        if stored.used_at is not None or not await self.repo.spend_refresh_token(stored.id, now):
            await self.revoke_family(stored.family_id)
            raise RefreshTokenReused()
        user = await self.repo.user_by_id(stored.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("This account is disabled")
        return await self.issue_tokens(user, stored.family_id)

    async def revoke_family(self, family_id: str) -> None:
        await self.repo.revoke_family(family_id)
        # Access tokens of the family die with it: they are refused until they would expire.
        ttl = self.runtime.access_tokens.ttl_seconds

        async def deny() -> None:
            await self.runtime.cache.set(revoked_family_key(family_id), b"1", ttl)

        after_commit(self.session, deny)

    async def logout(
        self, user: User, jti: str, family_id: str, expires_at: int, refresh_token: str | None
    ) -> None:
        if refresh_token is not None:
            stored = await self.repo.refresh_token_by_hash(digest(refresh_token))
            if stored is not None and stored.user_id == user.id:
                await self.revoke_family(stored.family_id)
        if family_id:
            await self.revoke_family(family_id)
        remaining = max(1, expires_at - int(_utcnow().timestamp()))
        cache = self.runtime.cache

        async def deny_access_token() -> None:
            await cache.set(revoked_jti_key(jti), b"1", remaining)
            await cache.delete(user_cache_key(user.username))

        after_commit(self.session, deny_access_token)

    # Passwords

    async def change_password(self, user: User, current: str, new: str) -> None:
        if not await self.runtime.passwords.verify_async(user.password_hash, current):
            raise Forbidden("Current password is wrong")
        await self._set_password(user, new)

    async def _set_password(self, user: User, new: str) -> None:
        self._check_password(new, user.username)
        user.password_hash = await self.runtime.passwords.hash_async(new)
        # Every existing session ends: refresh tokens revoked, older access tokens refused.
        user.sessions_valid_after = _utcnow()
        user.failed_login_attempts = 0
        user.locked_until = None
        await self.repo.revoke_all_refresh_tokens(user.id)

    async def forgot_password(self, email: str) -> None:
        """Mail a reset token if the account exists; the caller answers 202 either way."""
        user = await self.repo.user_by_email(email.strip().lower())
        if user is None or not user.is_active or not await self._mail_allowed(user.id):
            return
        token = await self._new_verification_token(
            user.id, PASSWORD_RESET, self.settings.password_reset_ttl_seconds
        )
        self._mail_after_commit(
            user.email or "",
            "Reset your Game Hub password",
            "Someone asked to reset the password of your Game Hub account "
            f"{user.username}.\n\nYour reset token: {token}\n\n"
            f"Post it to {self.settings.public_base_url}/password/reset with a new password. "
            "It works once and expires in "
            f"{self.settings.password_reset_ttl_seconds // 60} minutes. "
            "If this was not you, ignore this message.\n",
        )

    async def reset_password(self, token: str, new: str) -> None:
        spent = await self.repo.use_verification_token(digest(token), PASSWORD_RESET, _utcnow())
        user = None if spent is None else await self.repo.user_by_id(spent.user_id)
        if user is None or not user.is_active:
            raise BadRequest("Invalid or expired reset token")
        await self._set_password(user, new)

    # Email verification

    async def request_verification(self, user: User) -> None:
        if user.email is None:
            raise Conflict("This account has no email address to verify")
        if user.email_verified:
            raise Conflict("Email address is already verified")
        if not await self._mail_allowed(user.id):
            raise TooManyRequests("Too many verification emails; try again later", 3600)
        await self._send_verification_mail(user)

    async def confirm_verification(self, token: str) -> User:
        spent = await self.repo.use_verification_token(digest(token), EMAIL_VERIFICATION, _utcnow())
        user = None if spent is None else await self.repo.user_by_id(spent.user_id)
        if user is None:
            raise BadRequest("Invalid or expired verification token")
        user.email_verified = True
        return user

    async def _send_verification_mail(self, user: User) -> None:
        token = await self._new_verification_token(
            user.id, EMAIL_VERIFICATION, self.settings.verification_token_ttl_seconds
        )
        self._mail_after_commit(
            user.email or "",
            "Verify your Game Hub email address",
            f"Welcome to Game Hub, {user.username}.\n\nYour verification token: {token}\n\n"
            f"Post it to {self.settings.public_base_url}/email/verify/confirm to confirm "
            "this address. It works once.\n",
        )

    async def _new_verification_token(self, user_id: int, purpose: str, ttl: int) -> str:
        await self.repo.retire_verification_tokens(user_id, purpose)
        token = new_secret()
        await self.repo.add_verification_token(
            VerificationToken(
                user_id=user_id,
                token_hash=digest(token),
                purpose=purpose,
                expires_at=_utcnow() + timedelta(seconds=ttl),
                is_used=False,
            )
        )
        return token

    async def _mail_allowed(self, user_id: int) -> bool:
        sent = await self.runtime.cache.incr(f"mail-count:{user_id}", 3600)
        return sent <= MAIL_PER_HOUR

    def _mail_after_commit(self, to: str, subject: str, body: str) -> None:
        mailer = self.runtime.mailer

        async def send() -> None:
            mailer.send_later(to, subject, body)

        after_commit(self.session, send)

    # API token

    async def create_api_token(self, user: User) -> str:
        token = new_secret(self.settings.api_token_prefix)
        user.api_token_hash = digest(token)
        user.api_token_hint = token[: len(self.settings.api_token_prefix) + 4]
        user.api_token_created_at = _utcnow()
        user.api_token_last_used_at = None
        return token

    @staticmethod
    def revoke_api_token(user: User) -> bool:
        had_token = user.api_token_hash is not None
        user.api_token_hash = None
        user.api_token_hint = None
        user.api_token_created_at = None
        user.api_token_last_used_at = None
        return had_token

    # Public profile cache

    async def public_user(self, username: str) -> dict[str, Any] | None:
        cached = await get_json(self.runtime.cache, user_cache_key(username))
        if cached is not None:
            return dict(cached)
        user = await self.repo.user_by_username(username)
        if user is None or not user.is_active:
            return None
        return await self.cache_public_user(user)

    async def cache_public_user(self, user: User) -> dict[str, Any]:
        profile = await self.repo.profile(user.id)
        data = schemas.public_user(
            user.id,
            user.username,
            user.full_name,
            profile.bio,
            profile.avatar_url,
            profile.location,
            user.created_at,
        )
        await set_json(
            self.runtime.cache,
            user_cache_key(user.username),
            data,
            self.settings.user_cache_ttl_seconds,
        )
        return data

    def forget_public_user(self, user: User) -> None:
        cache = self.runtime.cache

        async def drop() -> None:
            await cache.delete(user_cache_key(user.username))

        after_commit(self.session, drop)

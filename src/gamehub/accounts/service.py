"""Account rules: registration, login with lockout, token rotation, passwords, email."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from email_validator import EmailNotValidError, validate_email
from msgspec import UNSET
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gamehub.accounts import repository, schemas
from gamehub.accounts.errors import (
    AccountDisabled,
    AccountLocked,
    AddressLocked,
    ApiTokenNeedsLogin,
    CurrentPasswordWrong,
    EmailAlreadyVerified,
    EmailDomainNotAllowed,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    InvalidResetToken,
    InvalidVerificationToken,
    NoEmailToVerify,
    PasswordTooCommon,
    RefreshTokenReused,
    RegistrationRefused,
    TooManyVerificationEmails,
    UserAlreadyActive,
    UserAlreadyDeactivated,
    UsernameTaken,
    UserNotFound,
)
from gamehub.accounts.repository import AccountReads, AccountRepository
from gamehub.accounts.state import forget_state_after_commit, user_tag
from gamehub.core.cache import bump_version, get_versioned, hash_tag, put_versioned
from gamehub.core.db import Phase, after_commit, commit_durable_step, retry_on_deadlock
from gamehub.core.passwords import is_common_password
from gamehub.core.runtime import Runtime
from gamehub.core.tokens import digest, new_family_id, new_secret
from gamehub.models import Account, RefreshToken, User, VerificationToken
from gamehub.models.ledger import AccountKind, Category
from gamehub.protection.phones import Phones
from gamehub.protection.service import forget_after_commit
from gamehub.realtime.service import close_streams_after_commit
from gamehub.wallet.ledger import Ledger, Posting

EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"
REGISTRATION_NOTICE = "registration_notice"
# How many mails of one purpose one account may trigger in an hour.
MAIL_PER_HOUR = 5
# The login_failures address that counts failures from every address together.
ANY_ADDRESS = "*"

logger = logging.getLogger("gamehub.accounts")


def user_cache_key(username: str) -> str:
    name = username.lower()
    # Tagged, so that the entry and its generation (get_versioned) share a slot.
    return f"user:{hash_tag(name)}:{name}"


# A token's and its session's revocations carry their user's tag, the tag of the user's
# state (state_key): the identity check reads all four in one MGET.
def revoked_jti_key(user_id: int, jti: str) -> str:
    return f"revoked:{user_tag(user_id)}:jti:{jti}"


def revoked_family_key(user_id: int, family_id: str) -> str:
    return f"revoked:{user_tag(user_id)}:family:{family_id}"


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

    async def phone(self, user_id: int) -> str | None:
        """The phone number the account was registered with, if any."""
        user = await self.repo.user_by_id(user_id)
        return None if user is None else user.phone

    async def register(self, data: schemas.RegisterIn) -> tuple[User, IssuedTokens]:
        email = self._check_email(data.email)
        self._check_password(data.password, data.username)
        # Hashed before the database is touched, so that no transaction or connection
        # waits on it; a refused registration then takes as long as an accepted one.
        password_hash = await self.runtime.passwords.hash_async(data.password)
        taken = await self.repo.taken(data.username, email, data.roll_number)
        if taken == "username":
            # Public anyway: GET /user/{name} answers for every active username.
            raise UsernameTaken()
        if taken is not None:
            if taken == "email" and email is not None:
                await self._notify_owner_of_attempt(email)
            raise RegistrationRefused()
        user = User(
            username=data.username,
            username_key=data.username.lower(),
            email=email,
            full_name=data.full_name,
            roll_number=data.roll_number,
            phone=data.phone,
            password_hash=password_hash,
            is_active=True,
            is_admin=False,
            email_verified=False,
        )
        try:
            wallet = await self.repo.add_user_with_accounts(user, self.settings.currency, data.dob)
        except IntegrityError as exc:
            # Two registrations raced past the check above; the constraint decided.
            raise RegistrationRefused() from exc
        if data.phone is not None:
            await Phones(self.session, self.settings, self.runtime.clock).claim_at_registration(
                user.id, data.phone
            )
        if self.settings.welcome_bonus_minor:
            # Told like any movement: a stream that resumes from before it replays it.
            ledger = Ledger(self.session, self.runtime.events)
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
        if email is not None and await self._mail_allowed(user.id, EMAIL_VERIFICATION):
            await self._send_verification_mail(user)
        return user, await self.issue_tokens(user)

    async def _notify_owner_of_attempt(self, email: str) -> None:
        """Tell the address's owner rather than the stranger: the refusal itself does
        not say which detail was taken."""
        owner = await self.repo.user_by_email(email)
        if owner is None or not await self._mail_allowed(owner.id, REGISTRATION_NOTICE):
            return
        # Sent now: the refused registration rolls back, and with it any after-commit.
        self.runtime.mailer.send_later(
            email,
            "Someone tried to register with your Game Hub address",
            f"Someone tried to create a Game Hub account with this address, which already "
            f"belongs to the account {owner.username}. Nothing was changed.\n\n"
            f"If it was you, log in, or ask for a password reset at "
            f"{self.settings.public_base_url}/password/forgot. Otherwise ignore this message.\n",
        )

    def _check_email(self, raw: str | None) -> str | None:
        allowed = self.settings.allowed_email_domains
        if raw is None:
            if allowed:
                raise EmailDomainNotAllowed(
                    "email: an address in one of these domains is required: " + ", ".join(allowed),
                    allowed,
                )
            return None
        try:
            email = validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise InvalidEmail(f"email: {exc}") from exc
        if allowed and email.rsplit("@", 1)[1] not in allowed:
            raise EmailDomainNotAllowed(
                "email: registration is open to " + ", ".join(allowed) + " only", allowed
            )
        return email

    @staticmethod
    def _check_password(password: str, username: str) -> None:
        if is_common_password(password) or password.lower() == username.lower():
            raise PasswordTooCommon()

    # Login and tokens

    async def login(self, identifier: str, password: str, client_ip: str) -> tuple[User, Account]:
        """Check credentials under the per-(name, address) lock, the slower lock of the
        name from every address, and the per-address ceiling on failures.

        Locks are kept per name as typed, whether or not an account has it, so that a
        refusal says nothing about which names exist.

        The password is checked (and rehashed) between two transactions: the reads end
        before it and the writes start after it, so that no connection, row or SQLite
        lock is held while the hash runs.
        """
        now = self.runtime.clock.now()
        settings = self.settings
        name = identifier.strip().lower()
        address = client_ip[:64]
        ip_key = f"login-failures:ip:{address}"
        cache = self.runtime.cache
        raw_ip_failures = await cache.get(ip_key)
        if raw_ip_failures is not None and int(raw_ip_failures) >= settings.ip_failure_limit:
            raise AddressLocked(
                retry_after_seconds=await cache.ttl(ip_key) or settings.ip_failure_window_seconds
            )
        locked_until, failed_before = await self.repo.login_failure_state(
            name, address, ANY_ADDRESS, now
        )
        if locked_until is not None:
            raise AccountLocked(retry_after_seconds=int((locked_until - now).total_seconds()) + 1)
        user = await self.repo.user_by_login(identifier)
        stored_hash = user.password_hash if user is not None else None
        await commit_durable_step(self.session, "no transaction is held while the hash runs")
        passwords = self.runtime.passwords
        if not await passwords.verify_async(stored_hash, password):
            await cache.incr(ip_key, settings.ip_failure_window_seconds)
            # Concurrent first failures of one pair race to insert its row; on MariaDB
            # the losers can deadlock on the duplicate key, and each must still count.
            await retry_on_deadlock(
                self.session, lambda: self._count_login_failure(name, address, now)
            )
            await commit_durable_step(self.session, "a failed login counts though it is refused")
            raise InvalidCredentials()
        assert user is not None
        assert stored_hash is not None
        if not user.is_active:
            raise AccountDisabled()
        new_hash = (
            await passwords.hash_async(password) if passwords.needs_rehash(stored_hash) else None
        )
        if not await self.repo.record_login(user, stored_hash, now, new_hash):
            # Changed while the password was checked: the account was disabled, or the
            # password this one matched is no longer the account's.
            await self.session.refresh(user)
            if not user.is_active:
                raise AccountDisabled()
            raise InvalidCredentials()
        # A statement saved on most logins. A failure a concurrent request counts after
        # the read may survive this success, as it would had it come just after it.
        if failed_before:
            await self.repo.forget_login_failures([name], address)
        wallet = await self.repo.wallet(user.id, settings.currency)
        await self.cache_public_user(user)
        return user, wallet

    async def _count_login_failure(self, name: str, address: str, now: datetime) -> None:
        window = timedelta(seconds=self.settings.lockout_seconds)
        until = now + window
        for where, threshold in (
            (address, self.settings.lockout_threshold),
            (ANY_ADDRESS, self.settings.lockout_global_threshold),
        ):
            if await self.repo.count_login_failure(name, where, now, now - window) >= threshold:
                await self.repo.lock_login(name, where, until)

    async def purge_login_failures(self) -> int:
        """Forget finished windows: names nobody has would otherwise pile up."""
        now = self.runtime.clock.now()
        window = timedelta(seconds=self.settings.lockout_seconds)
        return await self.repo.purge_login_failures(now - window, now)

    async def unlock(self, username: str) -> int:
        """Clear every login lock and failure count of the account ``username`` (by its
        name and its email, from every address); the number of records cleared."""
        user = await self.repo.user_by_username(username)
        if user is None:
            raise UserNotFound(f"No user named {username}")
        cleared = await self.repo.forget_login_failures(self._login_names(user))
        logger.info("unlocked logins of user %s (%d records cleared)", user.username, cleared)
        return cleared

    async def issue_tokens(self, user: User, family_id: str | None = None) -> IssuedTokens:
        family_id = family_id or new_family_id()
        refresh = new_secret()
        await self.repo.add_refresh_token(
            RefreshToken(
                user_id=user.id,
                family_id=family_id,
                token_hash=digest(refresh),
                expires_at=self.runtime.clock.now()
                + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
                revoked=False,
            )
        )
        access = self.runtime.access_tokens.issue(user.id, family_id)
        return IssuedTokens(access, refresh, self.runtime.access_tokens.ttl_seconds)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        now = self.runtime.clock.now()
        stored = await self.repo.refresh_token_by_hash(digest(refresh_token))
        if stored is None or stored.revoked or stored.expires_at <= now:
            raise InvalidRefreshToken()
        if stored.used_at is not None or not await self.repo.spend_refresh_token(stored.id, now):
            # Concurrent replays of one token each revoke its whole family, and on MariaDB
            # two such updates can deadlock (seen in CI): the loser revokes again.
            user_id, family_id = stored.user_id, stored.family_id
            await retry_on_deadlock(self.session, lambda: self.revoke_family(user_id, family_id))
            await commit_durable_step(self.session, "the reused token's family stays revoked")
            raise RefreshTokenReused()
        user = await self.repo.user_by_id(stored.user_id)
        if user is None or not user.is_active:
            raise InvalidRefreshToken("This account is disabled")
        return await self.issue_tokens(user, stored.family_id)

    async def revoke_family(self, user_id: int, family_id: str) -> None:
        await self.repo.revoke_family(family_id)
        # Access tokens of the family die with it: they are refused until they would expire.
        ttl = self.runtime.access_tokens.ttl_seconds

        async def deny() -> None:
            await self.runtime.cache.set(revoked_family_key(user_id, family_id), b"1", ttl)

        after_commit(self.session, deny, phase=Phase.STATE)

    async def logout(
        self, user: User, jti: str, family_id: str, expires_at: int, refresh_token: str | None
    ) -> None:
        families = {family_id} if family_id else set()
        if refresh_token is not None:
            stored = await self.repo.refresh_token_by_hash(digest(refresh_token))
            if stored is not None and stored.user_id == user.id:
                families.add(stored.family_id)
        for family in sorted(families):
            await self.revoke_family(user.id, family)
            close_streams_after_commit(
                self.session, self.runtime, user.id, "logout", family_id=family
            )
        remaining = max(1, expires_at - int(self.runtime.clock.now().timestamp()))
        cache = self.runtime.cache

        async def deny_access_token() -> None:
            await cache.set(revoked_jti_key(user.id, jti), b"1", remaining)
            await cache.delete(user_cache_key(user.username))

        after_commit(self.session, deny_access_token, phase=Phase.STATE)

    # Passwords

    async def change_password(self, user: User, current: str, new: str) -> None:
        passwords = self.runtime.passwords
        stored_hash = user.password_hash
        await commit_durable_step(self.session, "no transaction is held while the hashes run")
        if not await passwords.verify_async(stored_hash, current):
            raise CurrentPasswordWrong()
        self._check_password(new, user.username)
        new_hash = await passwords.hash_async(new)
        # Only over the hash the current password was checked against: a reset or
        # another change that landed meanwhile is not overwritten.
        if not await self.repo.set_password_hash(user, new_hash, replacing=stored_hash):
            raise CurrentPasswordWrong()
        await self._password_changed(user, "password_changed")

    async def _password_changed(self, user: User, reason: str) -> None:
        await self.end_sessions(user, reason)
        # The owner has proved themselves; what strangers' failures locked, lifts.
        await self.repo.forget_login_failures(self._login_names(user))

    async def end_sessions(self, user: User, reason: str) -> None:
        """Close the account's doors: refresh tokens revoked, access tokens issued until
        now refused, the API token deleted (a new one must be made), outstanding SSE
        tickets void, open streams ended on every worker, the public profile uncached."""
        now = self.runtime.clock.now()
        user.sessions_valid_after = now
        forget_state_after_commit(self.session, self.runtime, user.id)
        await self.repo.revoke_all_refresh_tokens(user.id)
        self.revoke_api_token(user)
        self.forget_public_user(user)
        close_streams_after_commit(
            self.session, self.runtime, user.id, reason, before=now.timestamp()
        )

    @staticmethod
    def _login_names(user: User) -> list[str]:
        return [user.username_key] + ([user.email] if user.email else [])

    async def forgot_password(self, email: str) -> None:
        """Mail a reset token if the account exists; the caller answers 202 either way.

        The lookup and the mail happen after the response, so that it takes as long for
        a known address as for an unknown one. The route limits requests per client
        address and per email address; the reset mails count against their own
        allowance, not the verification one.
        """
        runtime = self.runtime
        address = email.strip().lower()

        async def mail_reset() -> None:
            async with runtime.db.unit_of_work() as session:
                await AccountService(session, runtime).mail_reset_token(address)

        async def start() -> None:
            runtime.background.spawn("password-reset-mail", mail_reset)

        after_commit(self.session, start, phase=Phase.OUTSIDE)

    async def mail_reset_token(self, email: str) -> None:
        # Locked, so that of two requests at once the later token retires the earlier.
        user = await self.repo.user_by_email(email, for_update=True)
        if user is None or not user.is_active:
            return
        if not await self._mail_allowed(user.id, PASSWORD_RESET):
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
        found = await self.repo.usable_verification_token(
            digest(token), PASSWORD_RESET, self.runtime.clock.now()
        )
        user = None if found is None else await self.repo.user_by_id(found.user_id)
        if found is None or user is None or not user.is_active:
            raise InvalidResetToken()
        self._check_password(new, user.username)
        # The token is read, not yet spent: the hash runs outside any transaction, and
        # of two resets with one token only the first to spend it sets its password.
        await commit_durable_step(self.session, "no transaction is held while the hash runs")
        new_hash = await self.runtime.passwords.hash_async(new)
        if not await self.repo.spend_verification_token(found.id):
            raise InvalidResetToken()
        await self.repo.set_password_hash(user, new_hash)
        await self._password_changed(user, "password_reset")

    # Email verification

    async def request_verification(self, user: User) -> None:
        if user.email is None:
            raise NoEmailToVerify()
        if user.email_verified:
            raise EmailAlreadyVerified()
        if not await self._mail_allowed(user.id, EMAIL_VERIFICATION):
            raise TooManyVerificationEmails(retry_after_seconds=3600)
        await self._send_verification_mail(user)

    async def confirm_verification(self, token: str) -> User:
        spent = await self.repo.use_verification_token(
            digest(token), EMAIL_VERIFICATION, self.runtime.clock.now()
        )
        user = None if spent is None else await self.repo.user_by_id(spent.user_id)
        if user is None:
            raise InvalidVerificationToken()
        user.email_verified = True
        forget_state_after_commit(self.session, self.runtime, user.id)
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
                expires_at=self.runtime.clock.now() + timedelta(seconds=ttl),
                is_used=False,
            )
        )
        return token

    async def _mail_allowed(self, user_id: int, purpose: str) -> bool:
        """Each purpose has its own hourly allowance, so that a stranger asking for
        resets cannot use up the owner's verification mails."""
        sent = await self.runtime.cache.incr(f"mail-count:{purpose}:{user_id}", 3600)
        return sent <= MAIL_PER_HOUR

    def _mail_after_commit(self, to: str, subject: str, body: str) -> None:
        mailer = self.runtime.mailer

        async def send() -> None:
            mailer.send_later(to, subject, body)

        after_commit(self.session, send, phase=Phase.OUTSIDE)

    # Operator actions

    # Profile

    async def wallet_of(self, user: User) -> Account:
        return await self.repo.wallet(user.id, self.settings.currency)

    async def update_profile(self, user: User, data: schemas.ProfilePatch) -> None:
        """Apply the fields the patch names (an absent field stays as it is)."""
        profile = await self.repo.profile(user.id)
        if data.full_name is not UNSET:
            user.full_name = data.full_name
        for field in ("bio", "avatar_url", "location", "dob"):
            value = getattr(data, field)
            if value is not UNSET:
                setattr(profile, field, value)
        await self.session.flush()
        self.forget_public_user(user)
        if data.dob is not UNSET:
            # The age gate reads it: the player's cached standing goes with the old date.
            forget_after_commit(self.session, self.runtime, user.id)

    async def promote_to_admin(self, username: str) -> bool:
        """Make ``username`` an administrator; False when no account has that name."""
        user = await self.repo.user_by_username(username)
        if user is None:
            return False
        user.is_admin = True
        return True

    async def user_id_named(self, username: str) -> int:
        user = await self.repo.user_by_username(username)
        if user is None:
            raise UserNotFound(f"No user named {username}")
        return user.id

    async def deactivate(self, username: str, actor: str) -> User:
        """Disable the account and end everything it has open."""
        user = await self.repo.user_by_username(username)
        if user is None:
            raise UserNotFound(f"No user named {username}")
        if not user.is_active:
            raise UserAlreadyDeactivated(f"User {user.username} is already deactivated")
        user.is_active = False
        await self.end_sessions(user, "deactivated")
        logger.info("user %s (id %d) deactivated by %s", user.username, user.id, actor)
        return user

    async def reactivate(self, username: str, actor: str) -> User:
        """Let a deactivated account log in again; its old sessions stay ended."""
        user = await self.repo.user_by_username(username)
        if user is None or user.deleted_at is not None:
            raise UserNotFound(f"No user named {username}")
        if user.is_active:
            raise UserAlreadyActive(f"User {user.username} is active already")
        user.is_active = True
        forget_state_after_commit(self.session, self.runtime, user.id)
        logger.info("user %s (id %d) reactivated by %s", user.username, user.id, actor)
        return user

    async def erase(self, user: User, actor: str) -> list[str]:
        """Erase what identifies the person (the data protection law's right to erasure):
        name, email, phone, roll number and password go, every session ends, the account
        stays disabled under a name that says nothing. Its id, ledger and bets remain, as
        the law on financial records requires. The login names it had, to forget too."""
        names = self._login_names(user)
        await self.end_sessions(user, "deleted")
        now = self.runtime.clock.now()
        user.username = user.username_key = f"deleted-{user.id}"
        user.email = user.full_name = user.roll_number = user.phone = None
        # No hash verifies against this: the account can never log in again.
        user.password_hash = "!erased"
        user.is_active = user.email_verified = user.is_admin = False
        user.deleted_at = now
        logger.info("user id %d erased by %s", user.id, actor)
        return names

    # API token

    async def create_api_token(self, user: User, *, by_api_token: bool) -> str:
        if by_api_token:
            raise ApiTokenNeedsLogin()
        token = new_secret(self.settings.api_token_prefix)
        user.api_token_hash = digest(token)
        user.api_token_hint = token[: len(self.settings.api_token_prefix) + 4]
        user.api_token_created_at = self.runtime.clock.now()
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

    async def cache_public_user(self, user: User) -> None:
        key = user_cache_key(user.username)
        cached, generation = await get_versioned(self.runtime.cache, key)
        if cached is None:
            profile = await self.repo.profile(user.id)
            body = _public_body(
                user.id,
                user.username,
                user.full_name,
                profile.bio,
                profile.avatar_url,
                profile.location,
                user.created_at,
            )
            await put_versioned(
                self.runtime.cache, key, generation, body, self.settings.user_cache_ttl_seconds
            )

    def forget_public_user(self, user: User) -> None:
        runtime = self.runtime
        # The name as it is now: an erasure renames the account before the commit.
        key = user_cache_key(user.username)

        async def drop() -> None:
            runtime.reads.drop(key)
            await bump_version(runtime.cache, key)

        after_commit(self.session, drop, phase=Phase.STATE)


# Each process keeps a public profile this long (another worker's change may be unseen
# meanwhile); the shared cache keeps it until a change invalidates it, or its TTL.
PUBLIC_USER_LOCAL_SECONDS = 1.0


def _public_body(
    user_id: int,
    username: str,
    full_name: str | None,
    bio: str | None,
    avatar_url: str | None,
    location: str | None,
    created_at: datetime,
) -> bytes:
    return msgspec.json.encode(
        schemas.public_user(user_id, username, full_name, bio, avatar_url, location, created_at)
    )


async def public_user_body(runtime: Runtime, username: str) -> bytes | None:
    """GET /user/{name}'s JSON body, None for no active user of that name: this process's
    copy, else the shared cache's, else one read of the database, which is then cached."""
    key = user_cache_key(username)
    body = runtime.reads.get(key)
    if body is not None:
        return body
    body, generation = await get_versioned(runtime.cache, key)
    if body is None:
        async with runtime.db.reader() as connection:
            row = await AccountReads(connection).public_view(username)
        if row is None or not row["is_active"]:
            return None
        body = _public_body(
            row["id"],
            row["username"],
            row["full_name"],
            row["bio"],
            row["avatar_url"],
            row["location"],
            row["created_at"],
        )
        await put_versioned(
            runtime.cache, key, generation, body, runtime.settings.user_cache_ttl_seconds
        )
    runtime.reads.put(key, body, PUBLIC_USER_LOCAL_SECONDS)
    return body


async def profile_view(
    runtime: Runtime, user_id: int, connection: AsyncConnection | None = None
) -> Mapping[str, Any]:
    """GET /profile's columns (the user's, the profile's, the balance) in one statement;
    through ``connection`` when its transaction has just changed them."""
    row = await repository.profile_view(
        runtime.db if connection is None else connection, user_id, runtime.settings.currency
    )
    if row is None:
        raise UserNotFound()
    return row


async def caller_profile_row(
    runtime: Runtime, user_id: int, family_id: str
) -> Mapping[str, Any] | None:
    """GET /profile's row with the state an access token of session ``family_id`` is
    checked against (:func:`gamehub.accounts.deps.read_as_caller`)."""
    return await repository.profile_view(runtime.db, user_id, runtime.settings.currency, family_id)

"""All SQL of the account domain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    RowMapping,
    String,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from gamehub.accounts.state import UserState
from gamehub.core.db import Database, ReadStatement
from gamehub.models import (
    Account,
    LoginFailure,
    RefreshToken,
    Stats,
    User,
    UserProfile,
    VerificationToken,
)
from gamehub.models.user import credential_columns
from gamehub.wallet.ledger import Ledger, wallet_code


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_by_id(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def user_by_username(self, username: str) -> User | None:
        result = await self.session.execute(
            select(User).where(User.username_key == username.lower())
        )
        return result.scalar_one_or_none()

    async def user_by_login(self, identifier: str) -> User | None:
        """A login names the user by username or by email."""
        column = User.email if "@" in identifier else User.username_key
        result = await self.session.execute(select(User).where(column == identifier.lower()))
        return result.scalar_one_or_none()

    async def user_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        statement = select(User).where(User.email == email.lower())
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement)
        return result.scalar_one_or_none()

    async def touch_api_token(self, user_id: int, now: datetime) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(api_token_last_used_at=now)
            .execution_options(synchronize_session=False)
        )

    async def taken(self, username: str, email: str | None, roll_number: str | None) -> str | None:
        """Name the first field already used by another account, if any."""
        checks: list[tuple[str, object]] = [("username", User.username_key == username.lower())]
        if email is not None:
            checks.append(("email", User.email == email))
        if roll_number is not None:
            checks.append(("roll_number", User.roll_number == roll_number))
        for field, condition in checks:
            found = await self.session.execute(select(User.id).where(condition).limit(1))  # type: ignore[arg-type]
            if found.first() is not None:
                return field
        return None

    async def record_login(
        self, user: User, verified_hash: str, now: datetime, new_hash: str | None
    ) -> bool:
        """Note the login (and store ``new_hash``, if given) unless, since the password was
        checked against ``verified_hash``, the password has changed or the account has
        been disabled; False then."""
        values: dict[str, object] = {"last_login": now}
        if new_hash is not None:
            values["password_hash"] = new_hash
        result = await self.session.execute(
            update(User)
            .where(
                User.id == user.id,
                User.password_hash == verified_hash,
                User.is_active.is_(True),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        for key, value in values.items():
            set_committed_value(user, key, value)
        return True

    async def set_password_hash(
        self, user: User, new_hash: str, *, replacing: str | None = None
    ) -> bool:
        """Store ``new_hash``; with ``replacing``, only if that is still the stored hash
        (False otherwise), so that a change checked against an old password cannot
        overwrite one made since."""
        statement = update(User).where(User.id == user.id)
        if replacing is not None:
            statement = statement.where(User.password_hash == replacing)
        result = await self.session.execute(
            statement.values(password_hash=new_hash).execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        set_committed_value(user, "password_hash", new_hash)
        return True

    async def add_user_with_accounts(
        self, user: User, currency: str, dob: date | None = None
    ) -> Account:
        """The user with profile, wallet and stats rows, flushed together."""
        self.session.add(user)
        await self.session.flush()
        self.session.add_all([UserProfile(user_id=user.id, dob=dob), Stats(user_id=user.id)])
        return await Ledger(self.session).open_wallet(user.id, currency)

    async def profile(self, user_id: int) -> UserProfile:
        result = await self.session.execute(
            select(UserProfile).where(UserProfile.user_id == user_id)
        )
        return result.scalar_one()

    async def wallet(self, user_id: int, currency: str) -> Account:
        return await Ledger(self.session).wallet(user_id, currency)

    # Login failures, per (name, client address) and per name from every address

    async def login_failure_state(
        self, name: str, address: str, any_address: str, now: datetime
    ) -> tuple[datetime | None, bool]:
        """The latest lock in force on ``name`` from ``address`` or from every address
        (``any_address``), and whether failures from ``address`` are recorded (a success
        then forgets them)."""
        result = await self.session.execute(
            select(
                func.max(case((LoginFailure.locked_until > now, LoginFailure.locked_until))),
                func.count(case((LoginFailure.address == address, 1))),
            ).where(
                LoginFailure.name == name,
                LoginFailure.address.in_([address, any_address]),
            )
        )
        locked_until, from_address = result.one()
        return locked_until, bool(from_address)

    async def count_login_failure(
        self, name: str, address: str, now: datetime, window_started_after: datetime
    ) -> int:
        """Add one failure to the pair's current window atomically; return its count."""
        # A window that has run out (and holds no lock in force) starts again from zero.
        await self.session.execute(
            delete(LoginFailure)
            .where(
                LoginFailure.name == name,
                LoginFailure.address == address,
                LoginFailure.window_started_at <= window_started_after,
                or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now),
            )
            .execution_options(synchronize_session=False)
        )
        if not await self._add_login_failure(name, address):
            try:
                async with self.session.begin_nested():
                    self.session.add(
                        LoginFailure(name=name, address=address, failures=1, window_started_at=now)
                    )
            except IntegrityError:
                # A concurrent failure inserted the row first; count on top of it.
                await self._add_login_failure(name, address)
        result = await self.session.execute(
            select(LoginFailure.failures).where(
                LoginFailure.name == name, LoginFailure.address == address
            )
        )
        return int(result.scalar_one())

    async def _add_login_failure(self, name: str, address: str) -> bool:
        result = await self.session.execute(
            update(LoginFailure)
            .where(LoginFailure.name == name, LoginFailure.address == address)
            .values(failures=LoginFailure.failures + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def lock_login(self, name: str, address: str, until: datetime) -> None:
        await self.session.execute(
            update(LoginFailure)
            .where(LoginFailure.name == name, LoginFailure.address == address)
            .values(locked_until=until, failures=0)
            .execution_options(synchronize_session=False)
        )

    async def purge_login_failures(self, window_started_before: datetime, now: datetime) -> int:
        """Drop the counts whose window has run out and that hold no lock in force."""
        result = await self.session.execute(
            delete(LoginFailure)
            .where(
                LoginFailure.window_started_at <= window_started_before,
                or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now),
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def forget_login_failures(self, names: Sequence[str], address: str | None = None) -> int:
        """Drop the failures and locks of ``names`` (from one address, or every one)."""
        statement = delete(LoginFailure).where(LoginFailure.name.in_(names))
        if address is not None:
            statement = statement.where(LoginFailure.address == address)
        result = await self.session.execute(statement.execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # Refresh tokens

    async def add_refresh_token(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def spend_refresh_token(self, token_id: int, now: datetime) -> bool:
        """Mark the token used; False if another request spent it first."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_family(self, family_id: str) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id)
            .values(revoked=True)
            .execution_options(synchronize_session=False)
        )

    async def revoke_all_refresh_tokens(self, user_id: int) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id)
            .values(revoked=True)
            .execution_options(synchronize_session=False)
        )

    # Verification and reset tokens

    async def add_verification_token(self, token: VerificationToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def use_verification_token(
        self, token_hash: str, purpose: str, now: datetime
    ) -> VerificationToken | None:
        """Spend a live token of this purpose exactly once; None if it cannot be used."""
        token = await self.usable_verification_token(token_hash, purpose, now)
        if token is None or not await self.spend_verification_token(token.id):
            return None
        return token

    async def usable_verification_token(
        self, token_hash: str, purpose: str, now: datetime
    ) -> VerificationToken | None:
        """The live, unused token of this purpose, if any; it stays unspent."""
        result = await self.session.execute(
            select(VerificationToken).where(
                VerificationToken.token_hash == token_hash,
                VerificationToken.purpose == purpose,
            )
        )
        token = result.scalar_one_or_none()
        if token is None or token.is_used or token.expires_at <= now:
            return None
        return token

    async def spend_verification_token(self, token_id: int) -> bool:
        """Mark the token used; False if another request spent (or retired) it first."""
        spent = await self.session.execute(
            update(VerificationToken)
            .where(VerificationToken.id == token_id, VerificationToken.is_used.is_(False))
            .values(is_used=True)
            .execution_options(synchronize_session=False)
        )
        return bool(spent.rowcount)  # type: ignore[attr-defined]

    async def retire_verification_tokens(self, user_id: int, purpose: str) -> None:
        """A new token of a purpose makes the earlier ones useless."""
        await self.session.execute(
            update(VerificationToken)
            .where(
                VerificationToken.user_id == user_id,
                VerificationToken.purpose == purpose,
                VerificationToken.is_used.is_(False),
            )
            .values(is_used=True)
            .execution_options(synchronize_session=False)
        )


# The hot reads, built once with bound parameters: building and keying a statement per
# request cost more CPU than the database spent answering it.
_USER_STATE = ReadStatement(
    select(User.is_active, User.email_verified, User.sessions_valid_after).where(
        User.id == bindparam("p_user_id", type_=Integer)
    )
)
_PROFILE_VIEW = ReadStatement(
    select(
        User.id,
        User.username,
        User.email,
        User.full_name,
        User.created_at,
        UserProfile.bio,
        UserProfile.avatar_url,
        UserProfile.location,
        UserProfile.dob,
        UserProfile.updated_at,
        Account.balance,
        *credential_columns(),
    )
    .join(UserProfile, UserProfile.user_id == User.id)
    # By its code (the unique index), and the owner too: one row, and no join that
    # SQLAlchemy's linter takes for a cartesian product.
    .join(
        Account,
        (Account.code == bindparam("p_wallet_code", type_=String)) & (Account.user_id == User.id),
    )
    .where(User.id == bindparam("p_user_id", type_=Integer))
)


async def user_state(database: Database, user_id: int) -> UserState | None:
    """What the credential checks need, without loading the ORM user."""
    row = await _USER_STATE.one(database, {"p_user_id": user_id})
    if row is None:
        return None
    return UserState.of(row["is_active"], row["email_verified"], row["sessions_valid_after"])


async def profile_view(
    source: Database | AsyncConnection, user_id: int, currency: str, family_id: str = ""
) -> Mapping[str, Any] | None:
    """GET /profile in one statement: the user's columns, profile and balance, and the
    state an access token of session ``family_id`` is checked against
    (:func:`gamehub.models.user.credential_columns`). ``source``: the database, or the
    connection of a transaction that has just changed them."""
    return await _PROFILE_VIEW.one(
        source,
        {
            "p_user_id": user_id,
            "p_wallet_code": wallet_code(user_id, currency),
            "p_family_id": family_id,
        },
    )


class AccountReads:
    """The account domain's one-statement reads, on a connection without a transaction
    (:meth:`gamehub.core.db.Database.reader`)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def public_view(self, username: str) -> RowMapping | None:
        """GET /user/{name} in one statement: the public columns and whether active."""
        result = await self.connection.execute(
            select(
                User.id,
                User.username,
                User.full_name,
                User.created_at,
                User.is_active,
                UserProfile.bio,
                UserProfile.avatar_url,
                UserProfile.location,
            )
            .join(UserProfile, UserProfile.user_id == User.id)
            .where(User.username_key == username.lower())
        )
        return result.mappings().first()

    async def api_token_user(self, token_hash: str) -> RowMapping | None:
        """The API token's user: the credential checks' columns and the token's times."""
        result = await self.connection.execute(
            select(
                User.id,
                User.is_active,
                User.email_verified,
                User.sessions_valid_after,
                User.api_token_created_at,
                User.api_token_last_used_at,
            ).where(User.api_token_hash == token_hash)
        )
        return result.mappings().first()

    async def family_revoked(self, family_id: str) -> bool:
        found = await self.connection.execute(
            select(RefreshToken.id)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked.is_(True))
            .limit(1)
        )
        return found.first() is not None

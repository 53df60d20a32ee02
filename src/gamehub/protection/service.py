"""Player protection's rules: the player's own controls, the gates every deposit and
bet passes, and the operators' actions.

Periods are rolling: a day is the last 24 hours, a week the last 7 days, a month the last
30 days, all read on the runtime's clock, so that no time zone or midnight needs choosing
and a limit cannot be doubled by playing either side of a boundary.

A limit is checked with the player's wallet row locked (``SELECT ... FOR UPDATE``) before
the period is summed, in the transaction that then moves the money: of two concurrent
bets or deposits of one player, the second sums after the first committed, so they
cannot pass a limit together. SQLite takes one writer at a time anyway.

Most players have no controls: their standing ("old enough, nothing set") is cached for
``protection_clear_cache_seconds`` and dropped after every change, so their bets skip
these reads and Spin and Win keeps its group commit on PostgreSQL. Anyone else's bets take
the checked path every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.cache import Cache
from gamehub.core.db import Phase, after_commit
from gamehub.core.events import publish_after_commit
from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.errors import ValidationError
from gamehub.models.ledger import Account
from gamehub.models.protection import KycStatus, LimitKind, LimitPeriod, PhoneProof, PlayerLimit
from gamehub.models.protection import PlayerProtection as Row
from gamehub.protection.errors import (
    ControlCannotBeShortened,
    DateOfBirthRequired,
    LimitReached,
    SelfExcluded,
    TimedOut,
    UnderMinimumAge,
    VerificationRequired,
)
from gamehub.protection.phones import Phones
from gamehub.protection.repository import Identity, Play, ProtectionRepository
from gamehub.wallet.ledger import Ledger

PERIODS = {
    LimitPeriod.DAY.value: timedelta(days=1),
    LimitPeriod.WEEK.value: timedelta(days=7),
    LimitPeriod.MONTH.value: timedelta(days=30),
}
MIN_TIME_OUT_HOURS = 24
MAX_TIME_OUT_HOURS = 6 * 7 * 24
# Months of each self-exclusion; None never ends.
EXCLUSIONS: dict[str, int | None] = {
    "6_months": 6,
    "1_year": 12,
    "5_years": 60,
    "permanent": None,
}
PLAY_LIMITS = (LimitKind.LOSS.value, LimitKind.WAGER.value)


def clear_key(user_id: int) -> str:
    return f"protection:clear:{user_id}"


async def forget_standing(cache: Cache, user_id: int) -> None:
    """Drop the player's cached standing (after a change to their date of birth, email
    or controls), so that their next bet is checked afresh."""
    await cache.delete(clear_key(user_id))


def forget_after_commit(session: AsyncSession, runtime: Runtime, user_id: int) -> None:
    async def forget() -> None:
        await forget_standing(runtime.cache, user_id)

    after_commit(session, forget, phase=Phase.STATE)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later; a day the month lacks is its last."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def age_on(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class LimitChange:
    kind: str
    period: str
    # Minor units; None removes the limit.
    amount: int | None


@dataclass(frozen=True, slots=True)
class ControlsChange:
    """What PUT /responsible-gaming asks for; a None field is left as it is."""

    limits: Sequence[LimitChange] = ()
    time_out_hours: int | None = None
    self_exclusion: str | None = None
    # 0 turns the reality check off.
    reality_check_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class LimitView:
    kind: str
    period: str
    amount: int | None
    pending: bool
    pending_amount: int | None
    pending_from: datetime | None
    # What the period has used so far, and what it still allows (None without a limit).
    used: int
    remaining: int | None


@dataclass(frozen=True, slots=True)
class Controls:
    limits: list[LimitView]
    time_out_until: datetime | None
    excluded_until: datetime | None
    excluded_permanently: bool
    reality_check_minutes: int | None
    kyc_status: str
    dob: date | None
    email_verified: bool


@dataclass(slots=True)
class Standing:
    """What the gates know of a player, as of now."""

    identity: Identity
    row: Row | None
    limits: list[PlayerLimit] = field(default_factory=list)

    @property
    def kyc_status(self) -> str:
        return KycStatus.UNVERIFIED.value if self.row is None else self.row.kyc_status

    def active(self, kinds: Sequence[str]) -> list[PlayerLimit]:
        return [lim for lim in self.limits if lim.kind in kinds and lim.amount is not None]

    @property
    def reality_check(self) -> int | None:
        return None if self.row is None else self.row.reality_check_minutes

    def has_controls(self, now: datetime) -> bool:
        row = self.row
        if self.active(PLAY_LIMITS) or self.reality_check:
            return True
        if row is None:
            return False
        return bool(
            row.excluded_permanent
            or (row.excluded_until is not None and row.excluded_until > now)
            or (row.timeout_until is not None and row.timeout_until > now)
        )


class Protection:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.settings = runtime.settings
        self.repo = ProtectionRepository(session)

    @property
    def now(self) -> datetime:
        return self.runtime.clock.now()

    # Reading

    async def standing(self, user_id: int, *, for_update: bool = False) -> Standing:
        identity = await self.repo.identity(user_id)
        row = await self.repo.protection(user_id, for_update=for_update)
        limits = list(await self.repo.limits(user_id))
        self._take_due_changes(limits)
        return Standing(identity, row, limits)

    def _take_due_changes(self, limits: Sequence[PlayerLimit]) -> None:
        """A loosening whose cooling-off has passed is the limit from then on."""
        now = self.now
        for limit in limits:
            if limit.pending and limit.pending_from is not None and limit.pending_from <= now:
                limit.amount = limit.pending_amount
                limit.pending = False
                limit.pending_amount = None
                limit.pending_from = None
                limit.updated_at = now

    async def controls(self, user_id: int) -> Controls:
        standing = await self.standing(user_id)
        wallet_id: int | None = None
        views = []
        for limit in standing.limits:
            used = 0
            if limit.amount is not None or limit.pending:
                if limit.kind == LimitKind.DEPOSIT.value:
                    used = await self.repo.deposited_since(user_id, self._since(limit.period))
                else:
                    if wallet_id is None:
                        wallet_id = (await self._wallet(user_id, lock=False)).id
                    used = self._used(
                        limit.kind, await self.repo.play_since(wallet_id, self._since(limit.period))
                    )
            views.append(
                LimitView(
                    kind=limit.kind,
                    period=limit.period,
                    amount=limit.amount,
                    pending=limit.pending,
                    pending_amount=limit.pending_amount,
                    pending_from=limit.pending_from,
                    used=used,
                    remaining=None if limit.amount is None else max(limit.amount - used, 0),
                )
            )
        row, now = standing.row, self.now
        return Controls(
            limits=views,
            time_out_until=(
                row.timeout_until
                if row is not None and row.timeout_until is not None and row.timeout_until > now
                else None
            ),
            excluded_until=(
                row.excluded_until
                if row is not None and row.excluded_until is not None and row.excluded_until > now
                else None
            ),
            excluded_permanently=bool(row is not None and row.excluded_permanent),
            reality_check_minutes=standing.reality_check,
            kyc_status=standing.kyc_status,
            dob=standing.identity.dob,
            email_verified=standing.identity.email_verified,
        )

    # The player's own changes

    async def change(self, user_id: int, change: ControlsChange) -> Controls:
        row = await self.repo.protection_or_new(user_id)
        now = self.now
        if change.time_out_hours is not None:
            self._time_out(row, change.time_out_hours, now)
        if change.self_exclusion is not None:
            self._exclude(row, change.self_exclusion, now)
        if change.reality_check_minutes is not None:
            row.reality_check_minutes = change.reality_check_minutes or None
            row.reminded_at = now
        if change.limits:
            limits = {(lim.kind, lim.period): lim for lim in await self.repo.limits(user_id)}
            self._take_due_changes(list(limits.values()))
            for asked in change.limits:
                limit = limits.get((asked.kind, asked.period))
                if limit is None:
                    limit = PlayerLimit(user_id=user_id, kind=asked.kind, period=asked.period)
                    self.session.add(limit)
                    limits[(asked.kind, asked.period)] = limit
                self._set_limit(limit, asked.amount, now)
        row.updated_at = now
        await self.session.flush()
        forget_after_commit(self.session, self.runtime, user_id)
        return await self.controls(user_id)

    def _set_limit(self, limit: PlayerLimit, amount: int | None, now: datetime) -> None:
        current = limit.amount
        tighter = amount is not None and (current is None or amount <= current)
        cooling = timedelta(hours=self.settings.protection_cooling_off_hours)
        limit.updated_at = now
        if tighter or not cooling:
            limit.amount = amount
            limit.pending, limit.pending_amount, limit.pending_from = False, None, None
        elif current is None:
            # Removing a limit there is none of: nothing waits either.
            limit.pending, limit.pending_amount, limit.pending_from = False, None, None
        else:
            limit.pending, limit.pending_amount, limit.pending_from = True, amount, now + cooling

    def _time_out(self, row: Row, hours: int, now: datetime) -> None:
        if not MIN_TIME_OUT_HOURS <= hours <= MAX_TIME_OUT_HOURS:
            raise ValidationError.of(
                "time_out_hours",
                f"from {MIN_TIME_OUT_HOURS} (a day) to {MAX_TIME_OUT_HOURS} (six weeks)",
            )
        ends = now + timedelta(hours=hours)
        if row.timeout_until is not None and row.timeout_until > ends:
            raise ControlCannotBeShortened(
                f"Your time-out runs until {_iso(row.timeout_until)}; it cannot be shortened"
            )
        row.timeout_until = ends

    def _exclude(self, row: Row, length: str, now: datetime) -> None:
        if length not in EXCLUSIONS:
            raise ValidationError.of("self_exclusion", f"one of {', '.join(EXCLUSIONS)}")
        months = EXCLUSIONS[length]
        if row.excluded_permanent:
            if months is None:
                return
            raise ControlCannotBeShortened("Your self-exclusion is permanent")
        if months is None:
            row.excluded_permanent, row.excluded_until = True, None
            return
        ends = add_months(now, months)
        if row.excluded_until is not None and row.excluded_until > ends:
            raise ControlCannotBeShortened(
                f"Your self-exclusion runs until {_iso(row.excluded_until)}; it cannot be shortened"
            )
        row.excluded_until = ends

    # The gates

    def _check_identity(self, standing: Standing, *, kyc: bool) -> None:
        settings = self.settings
        dob = standing.identity.dob
        if settings.dob_required and dob is None:
            raise DateOfBirthRequired()
        if dob is not None and age_on(dob, self.now.date()) < settings.minimum_age:
            raise UnderMinimumAge(settings.minimum_age)
        if kyc and standing.kyc_status != KycStatus.VERIFIED.value:
            raise VerificationRequired(
                "Your identity must be verified first", kyc_status=standing.kyc_status
            )
        if settings.email_verification_required_for_play and not standing.identity.email_verified:
            raise VerificationRequired(
                "Verify your email address (POST /verify-email) first", kyc_status=None
            )

    def _check_breaks(self, standing: Standing) -> None:
        row, now = standing.row, self.now
        if row is None:
            return
        if row.excluded_permanent:
            raise SelfExcluded(None)
        if row.excluded_until is not None and row.excluded_until > now:
            raise SelfExcluded(_iso(row.excluded_until))
        if row.timeout_until is not None and row.timeout_until > now:
            raise TimedOut(_iso(row.timeout_until))

    def _since(self, period: str) -> datetime:
        return self.now - PERIODS[period]

    @staticmethod
    def _used(kind: str, play: Play) -> int:
        return play.stakes if kind == LimitKind.WAGER.value else max(-play.net, 0)

    async def _wallet(self, user_id: int, *, lock: bool) -> Account:
        return await Ledger(self.session).wallet(user_id, self.settings.currency, for_update=lock)

    async def bet_guard(self, user_id: int) -> BetGuard | None:
        """None when the player may bet unchecked (old enough, nothing set); otherwise
        the guard whose :meth:`BetGuard.check` every stake of theirs passes. Refuses at
        once a player the age, verification or a break keeps from play."""
        key = clear_key(user_id)
        if await self.runtime.cache.get(key) is not None:
            return None
        standing = await self.standing(user_id)
        self._check_identity(standing, kyc=self.settings.kyc_required_for_play)
        self._check_breaks(standing)
        if not standing.has_controls(self.now):
            await self.runtime.cache.set(
                key, b"1", ttl_seconds=self.settings.protection_clear_cache_seconds
            )
            return None
        return BetGuard(self, user_id, standing)

    async def check_deposit(self, user_id: int, amount: int) -> None:
        """Refuse a deposit the player's age, verification, a break or a deposit limit
        forbids. Locks the wallet: the deposit's row must be written in this transaction."""
        standing = await self.standing(user_id)
        threshold = self.settings.kyc_deposit_threshold_minor
        kyc = self.settings.kyc_required_for_play or bool(threshold and amount > threshold)
        self._check_identity(standing, kyc=kyc)
        self._check_breaks(standing)
        limits = standing.active((LimitKind.DEPOSIT.value,))
        if not limits:
            return
        await self._wallet(user_id, lock=True)
        for limit in limits:
            used = await self.repo.deposited_since(user_id, self._since(limit.period))
            _enforce(limit, used, amount)

    async def check_withdrawal(self, user_id: int, phone: str) -> None:
        """Withdrawals stay open through a time-out or an exclusion; only the phone's
        ownership and verification (GAMEHUB_KYC_REQUIRED_FOR_WITHDRAWALS) stand in their way."""
        await Phones(self.session, self.settings, self.runtime.clock).check_withdrawal(
            user_id, phone
        )
        if not self.settings.kyc_required_for_withdrawals:
            return
        row = await self.repo.protection(user_id)
        status = KycStatus.UNVERIFIED.value if row is None else row.kyc_status
        if status != KycStatus.VERIFIED.value:
            raise VerificationRequired("Withdrawals need a verified identity", kyc_status=status)


def _enforce(limit: PlayerLimit, used: int, amount: int) -> None:
    assert limit.amount is not None
    remaining = max(limit.amount - used, 0)
    if amount > remaining:
        raise LimitReached(
            limit=limit.kind,
            period=limit.period,
            amount=to_major(limit.amount),
            remaining=to_major(remaining),
        )


class BetGuard:
    """The checks of one player's stake, and the reality check after it."""

    def __init__(self, protection: Protection, user_id: int, standing: Standing) -> None:
        self.protection = protection
        self.user_id = user_id
        self.standing = standing

    async def check(self, stake: int) -> None:
        """Refuse a stake past a loss or wager limit; the wallet is locked first, so the
        sums hold until this transaction ends."""
        limits = self.standing.active(PLAY_LIMITS)
        if not limits:
            return
        protection = self.protection
        wallet = await protection._wallet(self.user_id, lock=True)
        plays: dict[str, Play] = {}
        for limit in limits:
            if limit.period not in plays:
                plays[limit.period] = await protection.repo.play_since(
                    wallet.id, protection._since(limit.period)
                )
            used = Protection._used(limit.kind, plays[limit.period])
            # A loss limit counts the stake as lost: the bet could lose all of it.
            _enforce(limit, used, stake)

    async def after_bet(self) -> None:
        """Once the bet is written: send the reality check if its interval has passed."""
        minutes = self.standing.reality_check
        if not minutes:
            return
        protection = self.protection
        now = protection.now
        row = await protection.repo.protection(self.user_id, for_update=True)
        assert row is not None
        gap = timedelta(minutes=protection.settings.protection_session_gap_minutes)
        if row.session_started_at is None or row.last_bet_at is None or now - row.last_bet_at > gap:
            row.session_started_at = now
            row.reminded_at = now
        row.last_bet_at = now
        reminded = row.reminded_at or row.session_started_at
        if now - reminded >= timedelta(minutes=minutes):
            row.reminded_at = now
            wallet = await protection._wallet(self.user_id, lock=False)
            play = await protection.repo.play_since(wallet.id, row.session_started_at)
            publish_after_commit(
                protection.session,
                protection.runtime.events,
                "reality_check",
                {
                    "session_started_at": row.session_started_at,
                    "session_minutes": int((now - row.session_started_at).total_seconds() // 60),
                    "net_result": to_major(play.net),
                    "stakes": to_major(play.stakes),
                },
                users=[self.user_id],
            )
        await protection.session.flush()


class KycProvider(Protocol):
    """Where an account's identity check is decided: an operator by hand (the local
    implementation), or a verification service that reports back through the same call."""

    async def set_status(self, session: AsyncSession, user_id: int, status: KycStatus) -> None: ...


class OperatorKyc:
    """The local provider: the status an operator sets (``gamehub user kyc``, the admin
    API) is the account's status."""

    async def set_status(self, session: AsyncSession, user_id: int, status: KycStatus) -> None:
        row = await ProtectionRepository(session).protection_or_new(user_id)
        row.kyc_status = status.value
        await session.flush()


@dataclass(frozen=True, slots=True)
class Lifted:
    user_id: int
    excluded_until: datetime | None
    excluded_permanently: bool
    time_out_until: datetime | None
    reason: str


class Operators:
    """What operators do to a player's protection; the admin API audits each call."""

    def __init__(
        self, session: AsyncSession, runtime: Runtime, kyc: KycProvider | None = None
    ) -> None:
        self.session = session
        self.runtime = runtime
        self.kyc = kyc or OperatorKyc()

    async def set_kyc_status(self, user_id: int, status: KycStatus) -> None:
        await self.kyc.set_status(self.session, user_id, status)
        forget_after_commit(self.session, self.runtime, user_id)

    async def lift_exclusion_by_legal_order(self, user_id: int, reason: str) -> Lifted:
        """End the player's self-exclusion and time-out at once. Only for a legal order:
        ``reason`` (its reference) is required, and the caller records it in the audit log."""
        if not reason.strip():
            raise ValidationError.of("reason", "the legal order's reference is required")
        row = await ProtectionRepository(self.session).protection_or_new(user_id)
        lifted = Lifted(
            user_id, row.excluded_until, row.excluded_permanent, row.timeout_until, reason
        )
        row.excluded_until, row.excluded_permanent, row.timeout_until = None, False, None
        row.updated_at = self.runtime.clock.now()
        await self.session.flush()
        forget_after_commit(self.session, self.runtime, user_id)
        return lifted

    async def verify_phone(self, user_id: int, phone: str) -> None:
        """The operator checked that ``phone`` is the player's: withdrawals may go to it."""
        await Phones(self.session, self.runtime.settings, self.runtime.clock).prove(
            user_id, phone, PhoneProof.OPERATOR
        )

    async def allow_shared_phone(self, phone: str, actor: str) -> None:
        """Let more accounts register with ``phone`` (a family's one phone, say)."""
        await Phones(self.session, self.runtime.settings, self.runtime.clock).allow_shared(
            phone, actor
        )

    async def summary(self, user_id: int) -> Controls:
        """The player's controls, limits' use and KYC status, for the admin view."""
        return await Protection(self.session, self.runtime).controls(user_id)

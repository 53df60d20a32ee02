"""Operator actions, from the command line and the admin API.

Every change an operator makes writes its audit row in the transaction of the change
itself: a change that fails (and rolls back) leaves no row, and a row that cannot be
written fails the request, so the change rolls back with it. There is no change without
its trail and no trail of a change that did not happen.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, TypeAlias

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.schemas import RegisterIn
from gamehub.accounts.service import AccountService
from gamehub.admin.errors import (
    LastAdmin,
    NotExcluded,
    NotOnYourself,
    PaymentReceiptRequired,
    PlayerHoldsFunds,
    PlayerNotFound,
    RoleAlreadyHeld,
    RoleNotHeld,
    UnknownRole,
)
from gamehub.admin.repository import KINDS, LEDGER, AdminRepository, as_record
from gamehub.core.money import format_major, to_major
from gamehub.core.mpesa.client import normalise_msisdn
from gamehub.core.runtime import Runtime
from gamehub.errors import GamehubError, ValidationError
from gamehub.games import config as games_config
from gamehub.games import fairness
from gamehub.games.catalog import BPS, RUSSIAN_ROULETTE
from gamehub.games.service import GameService
from gamehub.models import AuditLog, Deposit, Game, RewardTable, User, Withdrawal
from gamehub.models.admin import Role
from gamehub.models.payments import WithdrawalStatus
from gamehub.models.protection import KycStatus
from gamehub.payments.service.approval import approve_withdrawal, reject_withdrawal
from gamehub.payments.service.review import resolve_deposit, resolve_withdrawal
from gamehub.payments.service.withdrawals import send_approved
from gamehub.protection.service import Controls, Operators
from gamehub.wallet.service import WalletService, balance_of
from gamehub.wallet.taxes import RULE_OF_ACCOUNT, TaxRule

# What a player's view and export name each list.
LISTS = [LEDGER, *KINDS]
# The reports' periods are free; the games' return is a ratio, shown to four places.
RTP_PLACES = 4


@dataclass(frozen=True, slots=True)
class Staff:
    """Who is acting: an operator through the API (with their roles and address), or a
    command line's user (``user_id`` None, every role: whoever runs it has the database)."""

    actor: str
    user_id: int | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    client_ip: str | None = None

    @classmethod
    def cli(cls, who: str) -> Staff:
        return cls(f"cli:{who}", roles=frozenset(Role))


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise UnknownRole("role: must be one of " + ", ".join(sorted(Role))) from exc


# What an action on a player changed: the audit row's before and after.
Change: TypeAlias = tuple[dict[str, Any] | None, dict[str, Any] | None]
AWAITING_APPROVAL = WithdrawalStatus.AWAITING_APPROVAL.value


def _phone(phone: str) -> str:
    try:
        return normalise_msisdn(phone)
    except ValueError as exc:
        raise ValidationError.of("phone", str(exc)) from exc


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


class AdminService:
    def __init__(self, session: AsyncSession, runtime: Runtime, staff: Staff) -> None:
        self.session = session
        self.runtime = runtime
        self.staff = staff
        self.repo = AdminRepository(session)
        self.accounts = AccountService(session, runtime)
        self.operators = Operators(session, runtime)

    async def _audit(
        self,
        action: str,
        target: User | str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        kind, target_id = (
            ("user", str(target.id)) if isinstance(target, User) else tuple(target.split(":", 1))
        )
        await self.repo.add_audit(
            AuditLog(
                actor_id=self.staff.user_id,
                actor=self.staff.actor,
                action=action,
                target_kind=kind,
                target_id=target_id,
                client_ip=self.staff.client_ip,
                before=_json(before),
                after=_json(after),
                reason=None if reason is None else reason[:255],
            )
        )

    async def player(self, user_id: int, *, for_update: bool = False) -> User:
        user = await self.repo.user(user_id, for_update=for_update)
        if user is None or user.deleted_at is not None:
            raise PlayerNotFound()
        return user

    async def _change(
        self,
        action: str,
        user_id: int,
        act: Callable[[User], Awaitable[Change]],
        *,
        reason: str | None = None,
    ) -> User:
        """Load the player, act on them, and audit what the act says changed: one step of
        the request's transaction, so the change and its row commit or roll back together.
        The player's row is locked first, so two operators changing the same player take
        turns and each row's before is what the change really replaced."""
        user = await self.player(user_id, for_update=True)
        before, after = await act(user)
        await self._audit(action, user, before=before, after=after, reason=reason)
        return user

    def _not_me(self, user: User) -> None:
        if user.id == self.staff.user_id:
            raise NotOnYourself()

    # Roles

    async def grant(self, username: str, role_name: str) -> set[str]:
        role = _role(role_name)
        user = await self._named(username)
        before = await self.repo.roles_of(user.id)
        if role in before:
            raise RoleAlreadyHeld(f"{user.username} holds {role} already")
        await self.repo.add_role(user.id, role, self.staff.actor)
        if role is Role.ADMIN:
            # GET /sessions and matchmaking's operator check read the flag.
            user.is_admin = True
        after = before | {role.value}
        await self._audit(
            "grant_role", user, before={"roles": sorted(before)}, after={"roles": sorted(after)}
        )
        return after

    async def revoke(self, username: str, role_name: str) -> set[str]:
        role = _role(role_name)
        user = await self._named(username)
        before = await self.repo.roles_of(user.id)
        if role not in before:
            raise RoleNotHeld(f"{user.username} does not hold {role}")
        if (
            role is Role.ADMIN
            and user.id == self.staff.user_id
            and not await self.repo.other_active_admins(user.id)
        ):
            raise LastAdmin()
        await self.repo.remove_role(user.id, role)
        if role is Role.ADMIN:
            user.is_admin = False
        after = before - {role.value}
        await self._audit(
            "revoke_role", user, before={"roles": sorted(before)}, after={"roles": sorted(after)}
        )
        return after

    async def _named(self, username: str) -> User:
        user_id = await self.accounts.user_id_named(username)
        return await self.player(user_id)

    # Reading players

    async def search(self, text: str, *, after_id: int | None, limit: int) -> list[User]:
        if not text.strip():
            raise ValidationError.of("q", "say what to look for: part of a name, email or phone")
        return await self.repo.search(text.strip(), after_id=after_id, limit=limit)

    async def view(self, user_id: int) -> dict[str, Any]:
        """One player: account, profile, roles, wallet, login locks and the latest of each
        list (the full lists page through :meth:`records`)."""
        user = await self.player(user_id)
        balance, held = await balance_of(self.runtime, user.id)
        profile = await self.repo.profile(user.id)
        names = [user.username_key] + ([user.email] if user.email else [])
        locks = [
            as_record(lock)
            for lock in await self.repo.login_locks(names)
            if lock.locked_until is not None and lock.locked_until > self.runtime.clock.now()
        ]
        return {
            "account": as_record(user),
            "profile": None if profile is None else as_record(profile, exclude=("user_id",)),
            "roles": sorted(await self.repo.roles_of(user.id)),
            "wallet": {
                "balance": to_major(balance),
                "held": to_major(held),
                "currency": self.runtime.settings.currency,
            },
            "login_locks": locks,
            "controls": await self.operators.summary(user.id),
            **{
                name: await self.repo.records(
                    name, user.id, before_id=None, since=None, until=None, limit=10
                )
                for name in LISTS
            },
        }

    async def records(
        self,
        kind: str,
        user_id: int,
        *,
        before_id: int | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        await self.player(user_id)
        return await self.repo.records(
            kind, user_id, before_id=before_id, since=since, until=until, limit=limit
        )

    async def export(self, user_id: int, *, audited: bool = True) -> dict[str, Any]:
        """Everything held about the player, as JSON (the law's subject access request).
        An operator's export is audited; a player's own is not."""
        user = await self.player(user_id)
        balance, held = await balance_of(self.runtime, user.id)
        profile = await self.repo.profile(user.id)
        everything: dict[str, Any] = {
            "account": as_record(user),
            "profile": None if profile is None else as_record(profile, exclude=("user_id",)),
            "roles": sorted(await self.repo.roles_of(user.id)),
            "wallet": {
                "balance": to_major(balance),
                "held": to_major(held),
                "currency": self.runtime.settings.currency,
            },
            "fairness_seeds": await self.repo.revealed_seeds(user.id),
        }
        for name in LISTS:
            everything[name] = await self.repo.records(
                name, user.id, before_id=None, since=None, until=None, limit=None
            )
        if audited:
            await self._audit("export", user)
        return everything

    # Changing players

    async def deactivate(self, user_id: int, reason: str) -> User:
        user = await self.player(user_id, for_update=True)
        self._not_me(user)
        await self.accounts.deactivate(user.username, self.staff.actor)
        await self._audit(
            "deactivate",
            user,
            before={"is_active": True},
            after={"is_active": False},
            reason=reason,
        )
        return user

    async def reactivate(self, user_id: int, reason: str) -> User:
        user = await self.player(user_id, for_update=True)
        await self.accounts.reactivate(user.username, self.staff.actor)
        await self._audit(
            "reactivate",
            user,
            before={"is_active": False},
            after={"is_active": True},
            reason=reason,
        )
        return user

    async def force_logout(self, user_id: int, reason: str) -> User:
        """Every refresh token, access token and the API token revoked, every stream closed."""
        user = await self.player(user_id, for_update=True)
        self._not_me(user)
        had_api_token = user.api_token_hash is not None
        await self.accounts.end_sessions(user, "logged_out_by_operator")
        await self._audit(
            "force_logout",
            user,
            before={"api_token": had_api_token},
            after={"api_token": False, "sessions_valid_after": user.sessions_valid_after},
            reason=reason,
        )
        return user

    async def unlock(self, user_id: int) -> int:
        user = await self.player(user_id)
        cleared = await self.accounts.unlock(user.username)
        await self._audit("unlock", user, after={"records_cleared": cleared})
        return cleared

    async def add_note(self, user_id: int, body: str) -> dict[str, Any]:
        user = await self.player(user_id)
        note = await self.repo.add_note(user.id, self.staff.actor, body)
        # The note lives in the player's file, and is erased with it; the trail names it.
        await self._audit("add_note", user, after={"note_id": note.id})
        return as_record(note)

    async def adjust(self, user_id: int, amount_minor: int, reason: str) -> tuple[int, int]:
        """A credit or debit through the ledger, against the house; (transaction, balance)."""
        user = await self.player(user_id)
        before, _ = await balance_of(self.runtime, user.id)
        wallets = WalletService(self.session, self.runtime.settings.currency, self.runtime.events)
        transaction, balance = await wallets.adjust(
            user.id, amount_minor, reason=reason, actor=self.staff.actor
        )
        await self._audit(
            "adjust_balance",
            user,
            before={"balance": to_major(before)},
            after={
                "balance": to_major(balance),
                "amount": to_major(amount_minor),
                "ledger_transaction_id": transaction.id,
            },
            reason=reason,
        )
        return transaction.id, balance

    async def resolve_payment(
        self, kind: str, payment_id: int, *, paid: bool, receipt: str | None, reason: str
    ) -> Deposit | Withdrawal:
        """Settle a payment M-Pesa left open (needs_review, unknown, or a deposit that
        expired) as the M-Pesa statement shows it, through the ledger, once."""
        if paid and not (receipt or "").strip():
            raise PaymentReceiptRequired()
        receipt = receipt.strip() if receipt else None
        resolve = resolve_deposit if kind == "deposit" else resolve_withdrawal
        # Locked before it is read, so that the status recorded as before is the one resolved.
        before = await self.repo.payment_status(kind, payment_id)
        payment: Deposit | Withdrawal = await resolve(
            self.session,
            self.runtime,
            payment_id,
            paid=paid,
            reason=reason,
            actor=self.staff.actor,
            receipt=receipt,
        )
        await self._audit(
            "resolve_payment",
            f"{kind}:{payment_id}",
            before={"status": before},
            after={"status": payment.status, "paid": paid, "receipt": receipt},
            reason=reason,
        )
        return payment

    async def awaiting_approval(
        self, *, after_id: int | None, limit: int
    ) -> list[tuple[Withdrawal, str]]:
        return await self.repo.awaiting_approval(after_id=after_id, limit=limit)

    async def approve_withdrawal(self, withdrawal_id: int) -> Withdrawal:
        """Approve a withdrawal awaiting approval and send it to M-Pesa. The approval and its
        audit row are committed together before the B2C request (send_approved), so the
        trail names whoever let the money go even if this worker dies mid-call."""
        withdrawal = await approve_withdrawal(self.session, self.runtime, withdrawal_id)
        await self._audit(
            "approve_withdrawal",
            f"withdrawal:{withdrawal_id}",
            before={"status": AWAITING_APPROVAL},
            after={
                "status": withdrawal.status,
                "user_id": withdrawal.user_id,
                "amount": to_major(withdrawal.amount),
            },
        )
        return await send_approved(self.session, self.runtime, withdrawal)

    async def reject_withdrawal(self, withdrawal_id: int, reason: str) -> Withdrawal:
        """Refuse a withdrawal awaiting approval: its amount goes back to the wallet."""
        withdrawal = await reject_withdrawal(
            self.session, self.runtime, withdrawal_id, reason=reason, actor=self.staff.actor
        )
        await self._audit(
            "reject_withdrawal",
            f"withdrawal:{withdrawal_id}",
            before={"status": AWAITING_APPROVAL},
            after={
                "status": withdrawal.status,
                "user_id": withdrawal.user_id,
                "amount": to_major(withdrawal.amount),
                "ledger_transaction_id": withdrawal.settle_transaction_id,
            },
            reason=reason,
        )
        return withdrawal

    # Player protection

    async def set_kyc(self, user_id: int, status: KycStatus, reason: str) -> Controls:
        """Record the outcome of the player's identity check (the local KYC provider)."""

        async def act(user: User) -> Change:
            before = (await self.operators.summary(user.id)).kyc_status
            await self.operators.set_kyc_status(user.id, status)
            return {"kyc_status": before}, {"kyc_status": status.value}

        await self._change("set_kyc", user_id, act, reason=reason)
        return await self.operators.summary(user_id)

    async def lift_exclusion(self, user_id: int, reference: str) -> Controls:
        """End a time-out or self-exclusion at once: for a legal order only, whose
        reference the audit row keeps."""

        async def act(user: User) -> Change:
            now = await self.operators.summary(user.id)
            if not (now.time_out_until or now.excluded_until or now.excluded_permanently):
                raise NotExcluded()
            lifted = await self.operators.lift_exclusion_by_legal_order(user.id, reference)
            return (
                {
                    "time_out_until": lifted.time_out_until,
                    "excluded_until": lifted.excluded_until,
                    "excluded_permanently": lifted.excluded_permanently,
                },
                {"time_out_until": None, "excluded_until": None, "excluded_permanently": False},
            )

        await self._change("lift_exclusion", user_id, act, reason=reference)
        return await self.operators.summary(user_id)

    async def verify_phone(self, user_id: int, phone: str, reason: str) -> str:
        """Mark ``phone`` as the player's (withdrawals may go to it); its M-Pesa form."""
        number = _phone(phone)

        async def act(user: User) -> Change:
            proof = await self.repo.phone_proof(user.id, number)
            await self.operators.verify_phone(user.id, number)
            after = await self.repo.phone_proof(user.id, number)
            return {"phone": number, "proven_by": proof}, {"phone": number, "proven_by": after}

        await self._change("verify_phone", user_id, act, reason=reason)
        return number

    async def allow_shared_phone(self, phone: str, reason: str) -> str:
        """Let a second account register with ``phone``; its M-Pesa form."""
        number = _phone(phone)
        before = await self.repo.phone_shared_by(number)
        await self.operators.allow_shared_phone(number, self.staff.actor)
        await self._audit(
            "allow_shared_phone",
            f"phone:{number}",
            before={"shared": before is not None, "allowed_by": before},
            after={"shared": True, "allowed_by": await self.repo.phone_shared_by(number)},
            reason=reason,
        )
        return number

    async def erase(self, user_id: int, reason: str) -> User:
        """Erase the player's personal data; refused while the account still holds money."""
        user = await self.player(user_id, for_update=True)
        self._not_me(user)
        balance, held = await balance_of(self.runtime, user.id)
        if balance or held:
            raise PlayerHoldsFunds(
                f"The account holds {format_major(balance)} and {format_major(held)} on its "
                "way out: pay it out or settle it first"
            )
        names = await self.accounts.erase(user, self.staff.actor)
        await self.repo.erase_personal_data(user, names)
        # The trail names the account by its id only: the personal data is gone from it too.
        await self._audit("erase", user, after={"deleted_at": user.deleted_at}, reason=reason)
        return user

    # Reports

    async def report(self, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        settings = self.runtime.settings
        games = {g.game.slug: g for g in await GameService(self.session, self.runtime).catalog()}
        per_game = []
        for slug, bets, wagered, paid_out, taxed in await self.repo.game_totals(since, until):
            listed = games.get(slug)
            theoretical = None if listed is None else listed.rtp
            if listed is not None and listed.reward_table_version is not None:
                theoretical = await self._played_rtp(listed.game, since, until) or theoretical
            elif listed is not None and slug == RUSSIAN_ROULETTE:
                theoretical = await self._raked_rtp(listed.game, since, until) or theoretical
            per_game.append(
                {
                    "game": slug,
                    "bets": int(bets),
                    "wagered": to_major(int(wagered)),
                    "paid_out": to_major(int(paid_out)),
                    # The taxes withheld from stakes and winnings are owed, not earned.
                    "gross_gaming_revenue": to_major(int(wagered) - int(paid_out) - int(taxed)),
                    "actual_rtp": _ratio(Fraction(int(paid_out), int(wagered)))
                    if wagered
                    else None,
                    "theoretical_rtp": None if theoretical is None else _ratio(theoretical),
                }
            )
        in_review_deposits, in_review_withdrawals = await self.repo.in_review()
        return {
            "since": since,
            "until": until,
            "currency": settings.currency,
            "games": per_game,
            "deposits": await self._by_status(Deposit, since, until),
            "withdrawals": await self._by_status(Withdrawal, since, until),
            "needing_review": {
                "deposits": in_review_deposits,
                "withdrawals": in_review_withdrawals,
            },
            "ledger": [
                {
                    "account_kind": kind,
                    "credits": to_major(int(credits)),
                    "debits": to_major(int(debits)),
                }
                for kind, credits, debits in await self.repo.ledger_totals(since, until)
            ],
            "taxes": await self._taxes(since, until),
        }

    async def _taxes(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """Every rule, taxed in the period or not: how many movements and the total owed."""
        found = {
            RULE_OF_ACCOUNT[kind]: (int(count), int(total))
            for kind, count, total in await self.repo.tax_totals(since, until)
        }
        return [
            {"rule": rule.value, "count": count, "total": to_major(total)}
            for rule in TaxRule
            for count, total in [found.get(rule, (0, 0))]
        ]

    async def _played_rtp(
        self, game: Game, since: datetime | None, until: datetime | None
    ) -> Fraction | None:
        """The return the period's bets were promised: each reward table version's,
        weighted by what was staked with it. None when nothing was."""
        weighted, total = Fraction(0), 0
        for version, wagered in await self.repo.wagered_by_table_version(game.id, since, until):
            table = await games_config.table_of(self.session, self.runtime.db, game.id, version)
            weighted += fairness.theoretical_rtp(table) * int(wagered)
            total += int(wagered)
        return weighted / total if total else None

    async def _raked_rtp(
        self, game: Game, since: datetime | None, until: datetime | None
    ) -> Fraction | None:
        """Roulette's promised return over the period: the pot back less each room's own
        rake (kept from when it opened), weighted by the stakes. None when nothing was."""
        weighted, total = Fraction(0), 0
        for rake_bps, wagered in await self.repo.staked_by_room_rake(game.id, since, until):
            weighted += (1 - Fraction(int(rake_bps), BPS)) * int(wagered)
            total += int(wagered)
        return weighted / total if total else None

    async def _by_status(
        self, model: Any, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        return [
            {"status": status, "count": int(count), "amount": to_major(int(amount))}
            for status, count, amount in await self.repo.payment_totals(model, since, until)
        ]

    async def audit_page(self, **query: Any) -> list[AuditLog]:
        return await self.repo.audit_page(**query)

    # Games: changed while they run, in force from the next bet on every worker.

    def _game_settings(self) -> games_config.GameSettings:
        return games_config.GameSettings(self.session, self.runtime.db, self.runtime.settings)

    async def games(self) -> list[tuple[Game, Fraction]]:
        """Each game with the return to player of its configuration in force."""
        listed = await GameService(self.session, self.runtime).catalog()
        return [(item.game, item.rtp) for item in listed]

    async def change_game(
        self, slug: str, changes: games_config.GameChanges, reason: str | None
    ) -> tuple[Game, Fraction]:
        before, game = await self._game_settings().change(slug, changes)
        await self._audit(
            "change_game",
            f"game:{game.slug}",
            before=before,
            after=games_config.settings_of(game),
            reason=reason,
        )
        return game, (await GameService(self.session, self.runtime).game(slug)).rtp

    async def add_reward_table(
        self, slug: str, segments: list[dict[str, Any]], reason: str | None
    ) -> RewardTable:
        before, row = await self._game_settings().add_reward_table(slug, segments, self.staff.actor)
        await self._audit(
            "add_reward_table",
            f"game:{slug}",
            before={"reward_table_version": before},
            after={"reward_table_version": row.version, "table": json.loads(row.table)},
            reason=reason,
        )
        return row

    async def reward_tables(self, slug: str) -> tuple[Game, list[RewardTable]]:
        return await self._game_settings().reward_tables(slug)


def _ratio(value: Fraction) -> float:
    return round(float(value), RTP_PLACES)


# The command line's actions.


async def create_admin(runtime: Runtime, username: str, password: str, email: str | None) -> bool:
    """Register ``username`` as an administrator; promote it if it exists. True if created."""
    async with runtime.db.unit_of_work() as session:
        accounts = AccountService(session, runtime)
        created = False
        if not await accounts.promote_to_admin(username):
            try:
                data = msgspec.convert(
                    {"username": username, "password": password, "email": email}, RegisterIn
                )
                user, _ = await accounts.register(data)
            except (msgspec.ValidationError, GamehubError) as exc:
                raise ValueError(str(exc)) from exc
            user.email_verified = email is not None
            created = True
        admin = AdminService(session, runtime, Staff.cli("create-admin"))
        user = await admin.player(await accounts.user_id_named(username))
        if Role.ADMIN not in await admin.repo.roles_of(user.id):
            await admin.grant(username, Role.ADMIN)
        return created


async def grant_role(runtime: Runtime, username: str, role: str, actor: str) -> set[str]:
    async with runtime.db.unit_of_work() as session:
        return await AdminService(session, runtime, Staff.cli(actor)).grant(username, role)


async def revoke_role(runtime: Runtime, username: str, role: str, actor: str) -> set[str]:
    async with runtime.db.unit_of_work() as session:
        return await AdminService(session, runtime, Staff.cli(actor)).revoke(username, role)


async def unlock_user(runtime: Runtime, username: str, actor: str) -> int:
    """Clear every login lock of ``username``; how many records were cleared."""
    async with runtime.db.unit_of_work() as session:
        admin = AdminService(session, runtime, Staff.cli(actor))
        return await admin.unlock(await admin.accounts.user_id_named(username))


async def deactivate_user(runtime: Runtime, username: str, actor: str) -> None:
    """Disable ``username``, ending its sessions and streams on every worker."""
    async with runtime.db.unit_of_work() as session:
        admin = AdminService(session, runtime, Staff.cli(actor))
        await admin.deactivate(await admin.accounts.user_id_named(username), "command line")


async def set_kyc(runtime: Runtime, username: str, status: KycStatus, actor: str) -> None:
    """Record the outcome of ``username``'s identity check (the local KYC provider), audited
    as every operator's change is."""
    async with runtime.db.unit_of_work() as session:
        admin = AdminService(session, runtime, Staff.cli(actor))
        await admin.set_kyc(await admin.accounts.user_id_named(username), status, "command line")

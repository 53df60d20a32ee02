"""The admin API under /admin, and a player's own data export. Thin: each route's guard
checks the roles, the service does the work and writes the audit row."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal, cast

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from gamehub.accounts.deps import CurrentIdentity, provide_identity
from gamehub.accounts.errors import (
    IDENTITY,
    UserAlreadyActive,
    UserAlreadyDeactivated,
    UserNotFound,
)
from gamehub.admin import schemas
from gamehub.admin.deps import ADMIN, FINANCE, READERS, SUPPORT, StaffDep, provide_staff, requires
from gamehub.admin.errors import (
    LastAdmin,
    NotExcluded,
    NotOnYourself,
    PaymentReceiptRequired,
    PlayerHoldsFunds,
    PlayerNotFound,
    RoleAlreadyHeld,
    RoleNotHeld,
    StaffOnly,
    UnknownRole,
)
from gamehub.admin.service import LISTS, AdminService, Staff
from gamehub.core.db import DbSession
from gamehub.core.money import parse_major, to_major
from gamehub.core.openapi import PLAYER
from gamehub.core.pagination import (
    NEXT_CURSOR_HEADERS,
    Cursor,
    Limit,
    Since,
    Until,
    next_cursor,
    page_response,
    unknown_value,
    window,
)
from gamehub.core.params import IdPath
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import WITH_BODY, ValidationError, error_responses
from gamehub.games.catalog import RUSSIAN_ROULETTE
from gamehub.games.config import GameChanges
from gamehub.games.controllers import reward_table_out
from gamehub.games.errors import GameNotFound, RewardTableNotFound, RewardTableRefused
from gamehub.models import AuditLog, Deposit, Game, RewardTable, User, Withdrawal
from gamehub.models.protection import KycStatus
from gamehub.payments.errors import (
    NotAwaitingApproval,
    NotForReview,
    PaymentNotFound,
    PaymentsNotConfigured,
)
from gamehub.protection.controllers import controls_out
from gamehub.protection.schemas import ControlsOut
from gamehub.wallet.errors import InsufficientFunds

# Every admin route can answer these: no credentials, or none of the roles it needs.
STAFF_ERRORS = (*IDENTITY, StaffOnly)
REPORT_CSV_COLUMNS = ["section", "name", "metric", "value"]


def _service(db_session: DbSession, runtime: RuntimeDep, staff: Staff) -> AdminService:
    return AdminService(db_session, runtime, staff)


def _action(user: User, message: str) -> schemas.ActionOut:
    return schemas.ActionOut(
        id=user.id, username=user.username, is_active=user.is_active, message=message
    )


def _audit_out(row: AuditLog) -> schemas.AuditOut:
    return schemas.AuditOut(
        id=row.id,
        actor=row.actor,
        actor_id=row.actor_id,
        action=row.action,
        target_kind=row.target_kind,
        target_id=row.target_id,
        client_ip=row.client_ip,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
        reason=row.reason,
        created_at=row.created_at,
    )


def _payment_out(kind: str, payment: Deposit | Withdrawal) -> schemas.PaymentOut:
    return schemas.PaymentOut(
        kind=kind,
        id=payment.id,
        status=payment.status,
        mpesa_receipt=payment.mpesa_receipt,
        result_desc=payment.result_desc,
        amount=to_major(payment.amount),
        tax=to_major(payment.tax),
    )


def report_csv(report: dict[str, Any]) -> str:
    """The report as rows of section, name, metric and value: one table any sheet opens."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_CSV_COLUMNS)
    for section, key in (("games", "game"), ("deposits", "status"), ("withdrawals", "status")):
        for row in report[section]:
            for metric, value in row.items():
                if metric != key:
                    writer.writerow([section, row[key], metric, "" if value is None else value])
    for kind, count in report["needing_review"].items():
        writer.writerow(["needing_review", kind, "count", count])
    for row in report["ledger"]:
        for metric in ("credits", "debits"):
            writer.writerow(["ledger", row["account_kind"], metric, row[metric]])
    for row in report["taxes"]:
        for metric in ("count", "total"):
            writer.writerow(["taxes", row["rule"], metric, row[metric]])
    return out.getvalue()


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"staff": Provide(provide_staff, sync_to_thread=False)}  # noqa: RUF012
    security = PLAYER

    # Roles

    @post(
        "/users/{username:str}/roles",
        status_code=HTTP_201_CREATED,
        guards=[requires(*ADMIN)],
        summary="Grant a role (admin, support, finance); admins only",
        responses=error_responses(
            *STAFF_ERRORS, *WITH_BODY, UserNotFound, PlayerNotFound, UnknownRole, RoleAlreadyHeld
        ),
    )
    async def grant_role(
        self,
        username: FromPath[str],
        data: JSONBody[schemas.RoleIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.RolesOut:
        roles = await _service(db_session, runtime, staff).grant(username, data.role)
        return schemas.RolesOut(username=username, roles=sorted(roles))

    @delete(
        "/users/{username:str}/roles/{role:str}",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Remove a role; an admin cannot remove their own when no other admin is left",
        responses=error_responses(
            *STAFF_ERRORS, UserNotFound, PlayerNotFound, UnknownRole, RoleNotHeld, LastAdmin
        ),
    )
    async def revoke_role(
        self,
        username: FromPath[str],
        role: FromPath[str],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.RolesOut:
        roles = await _service(db_session, runtime, staff).revoke(username, role)
        return schemas.RolesOut(username=username, roles=sorted(roles))

    # The audit trail

    @get(
        "/audit",
        guards=[requires(*ADMIN)],
        summary="The audit log, newest first: who did what, when, from where, before and after",
        operation_id="list_audit",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*STAFF_ERRORS, ValidationError),
    )
    async def audit(
        self,
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        action: Annotated[str | None, QueryParameter(max_length=40)] = None,
        target_kind: Annotated[
            str | None,
            QueryParameter(max_length=20, description="user, deposit, withdrawal or phone"),
        ] = None,
        target_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Response[schemas.AuditPage]:
        page = window(limit, cursor, since, until)
        rows = await _service(db_session, runtime, staff).audit_page(
            before_id=page.after,
            since=page.since,
            until=page.until,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            limit=limit + 1,
        )
        cursor_out = next_cursor(len(rows), limit, rows[limit - 1].id if rows[limit:] else None)
        body = schemas.AuditPage([_audit_out(r) for r in rows[:limit]], cursor_out)
        return page_response(body, cursor_out)

    # Players

    @get(
        "/players",
        guards=[requires(*READERS)],
        summary="Find players by part of their name, email or phone, newest first",
        operation_id="search_players",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*STAFF_ERRORS, ValidationError),
    )
    async def search(
        self,
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        q: Annotated[str, QueryParameter(min_length=1, max_length=100)],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.PlayerPage]:
        page = window(limit, cursor)
        users = await _service(db_session, runtime, staff).search(
            q, after_id=page.after, limit=limit + 1
        )
        cursor_out = next_cursor(len(users), limit, users[limit - 1].id if users[limit:] else None)
        items = [
            schemas.PlayerSummary(
                id=u.id,
                username=u.username,
                email=u.email,
                phone=u.phone,
                full_name=u.full_name,
                is_active=u.is_active,
                created_at=u.created_at,
                last_login=u.last_login,
            )
            for u in users[:limit]
        ]
        return page_response(schemas.PlayerPage(items, cursor_out), cursor_out)

    @get(
        "/players/{user_id:int}",
        guards=[requires(*READERS)],
        summary="One player: account, profile, roles, wallet, login locks, latest of each list",
        operation_id="get_player",
        responses=error_responses(*STAFF_ERRORS, PlayerNotFound),
    )
    async def player(
        self, user_id: IdPath, staff: StaffDep, db_session: DbSession, runtime: RuntimeDep
    ) -> dict[str, Any]:
        view = await _service(db_session, runtime, staff).view(user_id)
        return {**view, "controls": controls_out(view["controls"])}

    @get(
        "/players/{user_id:int}/records/{kind:str}",
        guards=[requires(*READERS)],
        summary="A player's ledger lines, bets, deposits, withdrawals, logins or notes",
        operation_id="list_player_records",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*STAFF_ERRORS, PlayerNotFound, ValidationError),
    )
    async def records(
        self,
        user_id: IdPath,
        kind: FromPath[str],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.RecordPage]:
        if kind not in LISTS:
            raise unknown_value("kind", LISTS)
        page = window(limit, cursor, since, until)
        rows = await _service(db_session, runtime, staff).records(
            kind,
            user_id,
            before_id=page.after,
            since=page.since,
            until=page.until,
            limit=limit + 1,
        )
        last = rows[limit - 1]["id"] if rows[limit:] else None
        cursor_out = next_cursor(len(rows), limit, last)
        return page_response(schemas.RecordPage(rows[:limit], cursor_out), cursor_out)

    @get(
        "/players/{user_id:int}/export",
        guards=[requires(*ADMIN)],
        summary="Everything held about a player, as JSON (audited)",
        operation_id="export_player",
        responses=error_responses(*STAFF_ERRORS, PlayerNotFound),
    )
    async def export(
        self, user_id: IdPath, staff: StaffDep, db_session: DbSession, runtime: RuntimeDep
    ) -> dict[str, Any]:
        return await _service(db_session, runtime, staff).export(user_id)

    @post(
        "/players/{user_id:int}/deactivate",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Disable the account: its sessions, API token and event streams end",
        responses=error_responses(
            *STAFF_ERRORS, *WITH_BODY, PlayerNotFound, NotOnYourself, UserAlreadyDeactivated
        ),
    )
    async def deactivate(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.ReasonIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.ActionOut:
        user = await _service(db_session, runtime, staff).deactivate(user_id, data.reason)
        return _action(user, "Deactivated")

    @post(
        "/players/{user_id:int}/reactivate",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Let a deactivated account log in again",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound, UserAlreadyActive),
    )
    async def reactivate(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.ReasonIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.ActionOut:
        user = await _service(db_session, runtime, staff).reactivate(user_id, data.reason)
        return _action(user, "Reactivated")

    @post(
        "/players/{user_id:int}/logout",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Force a logout: every token revoked, every event stream closed",
        operation_id="force_logout",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound, NotOnYourself),
    )
    async def logout(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.ReasonIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.ActionOut:
        user = await _service(db_session, runtime, staff).force_logout(user_id, data.reason)
        return _action(user, "Logged out everywhere")

    @post(
        "/players/{user_id:int}/unlock",
        status_code=HTTP_200_OK,
        guards=[requires(*SUPPORT)],
        summary="Clear every login lock of the account",
        operation_id="unlock_player",
        responses=error_responses(*STAFF_ERRORS, PlayerNotFound, UserNotFound),
    )
    async def unlock(
        self, user_id: IdPath, staff: StaffDep, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.UnlockOut:
        service = _service(db_session, runtime, staff)
        cleared = await service.unlock(user_id)
        user = await service.player(user_id)
        return schemas.UnlockOut(id=user.id, username=user.username, records_cleared=cleared)

    @post(
        "/players/{user_id:int}/notes",
        status_code=HTTP_201_CREATED,
        guards=[requires(*SUPPORT)],
        summary="Add a note to the player's file",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound),
    )
    async def add_note(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.NoteIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        return await _service(db_session, runtime, staff).add_note(user_id, data.body)

    @post(
        "/players/{user_id:int}/adjust",
        status_code=HTTP_200_OK,
        guards=[requires(*FINANCE)],
        summary="Credit (amount > 0) or debit (amount < 0) the wallet through the ledger",
        operation_id="adjust_balance",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound, InsufficientFunds),
    )
    async def adjust(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.AdjustIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.AdjustOut:
        try:
            minor = parse_major(abs(data.amount), maximum_minor=runtime.settings.max_amount_minor)
        except ValueError as exc:
            raise ValidationError.of("amount", str(exc)) from exc
        minor = minor if data.amount > 0 else -minor
        transaction_id, balance = await _service(db_session, runtime, staff).adjust(
            user_id, minor, data.reason
        )
        return schemas.AdjustOut(
            id=user_id, ledger_transaction_id=transaction_id, new_balance=to_major(balance)
        )

    @post(
        "/players/{user_id:int}/erase",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Erase the player's personal data; the ledger and bets are kept",
        operation_id="erase_player",
        responses=error_responses(
            *STAFF_ERRORS, *WITH_BODY, PlayerNotFound, NotOnYourself, PlayerHoldsFunds
        ),
    )
    async def erase(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.ReasonIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.ActionOut:
        user = await _service(db_session, runtime, staff).erase(user_id, data.reason)
        return _action(user, "Personal data erased")

    # Player protection

    @post(
        "/players/{user_id:int}/kyc",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Set the player's KYC status (the outcome of their identity check)",
        operation_id="set_player_kyc",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound),
    )
    async def set_kyc(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.KycIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> ControlsOut:
        service = _service(db_session, runtime, staff)
        return controls_out(await service.set_kyc(user_id, KycStatus(data.status), data.reason))

    @post(
        "/players/{user_id:int}/lift-exclusion",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="End a time-out or self-exclusion at once, by legal order only",
        operation_id="lift_exclusion",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound, NotExcluded),
    )
    async def lift_exclusion(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.LegalOrderIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> ControlsOut:
        service = _service(db_session, runtime, staff)
        return controls_out(await service.lift_exclusion(user_id, data.reason))

    @post(
        "/players/{user_id:int}/phones/verify",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Mark a phone number as the player's: withdrawals may go to it",
        operation_id="verify_player_phone",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PlayerNotFound),
    )
    async def verify_phone(
        self,
        user_id: IdPath,
        data: JSONBody[schemas.PhoneIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.PhoneOut:
        service = _service(db_session, runtime, staff)
        number = await service.verify_phone(user_id, data.phone, data.reason)
        return schemas.PhoneOut(phone=number, user_id=user_id, message="Verified")

    @post(
        "/phones/shared",
        status_code=HTTP_200_OK,
        guards=[requires(*ADMIN)],
        summary="Let a phone number register more than one account",
        operation_id="allow_shared_phone",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY),
    )
    async def allow_shared_phone(
        self,
        data: JSONBody[schemas.PhoneIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.PhoneOut:
        service = _service(db_session, runtime, staff)
        number = await service.allow_shared_phone(data.phone, data.reason)
        return schemas.PhoneOut(phone=number, message="May be shared")

    # Payments

    @get(
        "/withdrawals/awaiting-approval",
        guards=[requires(*FINANCE)],
        summary="Withdrawals above the approval threshold, held, oldest first",
        operation_id="list_awaiting_approval",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*STAFF_ERRORS, ValidationError),
    )
    async def awaiting_approval(
        self,
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.AwaitingPage]:
        page = window(limit, cursor)
        rows = await _service(db_session, runtime, staff).awaiting_approval(
            after_id=page.after, limit=limit + 1
        )
        cursor_out = next_cursor(len(rows), limit, rows[limit - 1][0].id if rows[limit:] else None)
        items = [
            schemas.AwaitingWithdrawal(
                id=w.id,
                user_id=w.user_id,
                username=username,
                amount=to_major(w.amount),
                tax=to_major(w.tax),
                currency=w.currency,
                phone=w.phone,
                created_at=w.created_at,
            )
            for w, username in rows[:limit]
        ]
        return page_response(schemas.AwaitingPage(items, cursor_out), cursor_out)

    @post(
        "/withdrawals/{withdrawal_id:int}/approve",
        status_code=HTTP_200_OK,
        guards=[requires(*FINANCE)],
        summary="Approve a withdrawal awaiting approval: it is sent to M-Pesa",
        operation_id="approve_withdrawal",
        responses=error_responses(
            *STAFF_ERRORS, PaymentNotFound, NotAwaitingApproval, PaymentsNotConfigured
        ),
    )
    async def approve(
        self, withdrawal_id: IdPath, staff: StaffDep, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.PaymentOut:
        service = _service(db_session, runtime, staff)
        return _payment_out("withdrawal", await service.approve_withdrawal(withdrawal_id))

    @post(
        "/withdrawals/{withdrawal_id:int}/reject",
        status_code=HTTP_200_OK,
        guards=[requires(*FINANCE)],
        summary="Reject a withdrawal awaiting approval: its amount goes back to the wallet",
        operation_id="reject_withdrawal",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, PaymentNotFound, NotAwaitingApproval),
    )
    async def reject(
        self,
        withdrawal_id: IdPath,
        data: JSONBody[schemas.ReasonIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.PaymentOut:
        service = _service(db_session, runtime, staff)
        withdrawal = await service.reject_withdrawal(withdrawal_id, data.reason)
        return _payment_out("withdrawal", withdrawal)

    @post(
        "/payments/{kind:str}/{payment_id:int}/resolve",
        status_code=HTTP_200_OK,
        guards=[requires(*FINANCE)],
        summary="Settle a payment in needs_review or unknown as the M-Pesa statement shows",
        operation_id="resolve_payment",
        responses=error_responses(
            *STAFF_ERRORS,
            *WITH_BODY,
            PaymentNotFound,
            NotForReview,
            PaymentReceiptRequired,
        ),
    )
    async def resolve(
        self,
        kind: FromPath[Literal["deposit", "withdrawal"]],
        payment_id: IdPath,
        data: JSONBody[schemas.ResolveIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.PaymentOut:
        payment = await _service(db_session, runtime, staff).resolve_payment(
            kind, payment_id, paid=data.paid, receipt=data.receipt, reason=data.reason
        )
        return _payment_out(kind, payment)

    # Reports

    @get(
        "/reports",
        guards=[requires(*FINANCE)],
        summary="Per game, payments and ledger totals over a period, as JSON or CSV",
        operation_id="get_report",
        responses=error_responses(*STAFF_ERRORS, ValidationError),
    )
    async def report(
        self,
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
        since: Since = None,
        until: Until = None,
        format: Annotated[
            Literal["json", "csv"], QueryParameter(description="json, or csv for a sheet")
        ] = "json",
    ) -> Response[schemas.ReportOut]:
        page = window(1, None, since, until)
        report = await _service(db_session, runtime, staff).report(page.since, page.until)
        if format == "csv":
            # The same report as a sheet: the document describes its JSON form.
            sheet = Response(
                report_csv(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="report.csv"'},
            )
            return cast(Response[schemas.ReportOut], sheet)
        return Response(schemas.ReportOut(**_report_structs(report)))


def _report_structs(report: dict[str, Any]) -> dict[str, Any]:
    return {
        **report,
        "games": [schemas.GameReport(**row) for row in report["games"]],
        "deposits": [schemas.StatusTotal(**row) for row in report["deposits"]],
        "withdrawals": [schemas.StatusTotal(**row) for row in report["withdrawals"]],
        "needing_review": schemas.InReview(**report["needing_review"]),
        "ledger": [schemas.LedgerTotal(**row) for row in report["ledger"]],
        "taxes": [schemas.TaxTotal(**row) for row in report["taxes"]],
    }


class MyDataController(Controller):
    """The player's own copy of everything held about them."""

    tags = ["accounts"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"identity": Provide(provide_identity)}  # noqa: RUF012 - Litestar's API
    security = PLAYER

    @get(
        "/me/export",
        summary="Everything held about the caller, as JSON",
        operation_id="export_me",
        responses=error_responses(*IDENTITY, PlayerNotFound),
    )
    async def export(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> dict[str, Any]:
        service = AdminService(db_session, runtime, Staff(f"user-id:{identity.user_id}"))
        return await service.export(identity.user_id, audited=False)


# Games: a controller of its own under /admin, so that the games' routes stay together.


def _admin_game_out(game: Game, rtp: Fraction) -> schemas.AdminGameOut:
    return schemas.AdminGameOut(
        slug=game.slug,
        name=game.name,
        is_active=game.is_active,
        min_bet=to_major(game.min_bet),
        max_bet=to_major(game.max_bet),
        rtp=float(rtp),
        rtp_exact=str(rtp),
        reward_table_version=game.reward_table_version,
        rake_bps=game.rake_bps if game.slug == RUSSIAN_ROULETTE else None,
        side_bet_edge_bps=game.side_bet_edge_bps if game.slug == RUSSIAN_ROULETTE else None,
    )


def _admin_table_out(row: RewardTable, in_force: int | None) -> schemas.AdminRewardTableOut:
    public = reward_table_out(row)
    return schemas.AdminRewardTableOut(
        version=row.version,
        table=public.table,
        rtp=public.rtp,
        rtp_exact=public.rtp_exact,
        in_force=row.version == in_force,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _stake(value: Decimal | None, field: str, runtime: RuntimeDep) -> int | None:
    if value is None:
        return None
    try:
        return parse_major(value, maximum_minor=runtime.settings.max_amount_minor)
    except ValueError as exc:
        raise ValidationError.of(field, str(exc)) from exc


class AdminGamesController(Controller):
    path = "/admin/games"
    tags = ["admin"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"staff": Provide(provide_staff, sync_to_thread=False)}  # noqa: RUF012
    security = PLAYER

    @get(
        "/",
        guards=[requires(*READERS)],
        summary="Every game's settings in force: open, stakes, reward table, rake",
        operation_id="admin_list_games",
        responses=error_responses(*STAFF_ERRORS),
    )
    async def games(
        self, staff: StaffDep, db_session: DbSession, runtime: RuntimeDep
    ) -> list[schemas.AdminGameOut]:
        listed = await _service(db_session, runtime, staff).games()
        return [_admin_game_out(game, rtp) for game, rtp in listed]

    @patch(
        "/{slug:str}",
        guards=[requires(*ADMIN)],
        summary="Open or close a game, change its stakes, roulette's rake and side-bet edge",
        operation_id="admin_change_game",
        responses=error_responses(*STAFF_ERRORS, *WITH_BODY, GameNotFound),
    )
    async def change(
        self,
        slug: FromPath[str],
        data: JSONBody[schemas.GameChangeIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.AdminGameOut:
        changes = GameChanges(
            is_active=data.is_active,
            min_bet=_stake(data.min_bet, "min_bet", runtime),
            max_bet=_stake(data.max_bet, "max_bet", runtime),
            rake_bps=data.rake_bps,
            side_bet_edge_bps=data.side_bet_edge_bps,
        )
        if changes == GameChanges():
            raise ValidationError.of("body", "name at least one setting to change")
        game, rtp = await _service(db_session, runtime, staff).change_game(
            slug, changes, data.reason
        )
        return _admin_game_out(game, rtp)

    @post(
        "/{slug:str}/reward-tables",
        status_code=HTTP_201_CREATED,
        guards=[requires(*ADMIN)],
        summary="A new version of the reward table, in force from the next spin",
        operation_id="admin_add_reward_table",
        responses=error_responses(
            *STAFF_ERRORS, *WITH_BODY, GameNotFound, RewardTableNotFound, RewardTableRefused
        ),
    )
    async def add_reward_table(
        self,
        slug: FromPath[str],
        data: JSONBody[schemas.RewardTableIn],
        staff: StaffDep,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.AdminRewardTableOut:
        segments = [{"multiplier": s.multiplier, "weight": s.weight} for s in data.table]
        row = await _service(db_session, runtime, staff).add_reward_table(
            slug, segments, data.reason
        )
        return _admin_table_out(row, row.version)

    @get(
        "/{slug:str}/reward-tables",
        guards=[requires(*READERS)],
        summary="Every version of the game's reward table, newest first",
        operation_id="admin_list_reward_tables",
        responses=error_responses(*STAFF_ERRORS, GameNotFound, RewardTableNotFound),
    )
    async def reward_tables(
        self, slug: FromPath[str], staff: StaffDep, db_session: DbSession, runtime: RuntimeDep
    ) -> list[schemas.AdminRewardTableOut]:
        game, rows = await _service(db_session, runtime, staff).reward_tables(slug)
        return [_admin_table_out(row, game.reward_table_version) for row in rows]

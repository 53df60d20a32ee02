"""GET and PUT /responsible-gaming: the player's own limits, breaks and reminders."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.di import Provide
from litestar.params import JSONBody

from gamehub.accounts.deps import CurrentIdentity, provide_identity
from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
from gamehub.core.money import amount_field, to_major
from gamehub.core.openapi import PLAYER
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import WITH_BODY, error_responses
from gamehub.protection import schemas
from gamehub.protection.errors import ControlCannotBeShortened
from gamehub.protection.service import Controls, ControlsChange, LimitChange, Protection


def _major(minor: int | None) -> float | None:
    return None if minor is None else to_major(minor)


def controls_out(controls: Controls) -> schemas.ControlsOut:
    return schemas.ControlsOut(
        limits=[
            schemas.LimitOut(
                kind=limit.kind,
                period=limit.period,
                amount=_major(limit.amount),
                pending=limit.pending,
                pending_amount=_major(limit.pending_amount),
                pending_from=limit.pending_from,
                used=to_major(limit.used),
                remaining=_major(limit.remaining),
            )
            for limit in controls.limits
        ],
        time_out_until=controls.time_out_until,
        excluded_until=controls.excluded_until,
        excluded_permanently=controls.excluded_permanently,
        reality_check_minutes=controls.reality_check_minutes,
        kyc_status=controls.kyc_status,
        dob=controls.dob,
        email_verified=controls.email_verified,
    )


class ResponsibleGamingController(Controller):
    path = "/responsible-gaming"
    tags = ["responsible gaming"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"identity": Provide(provide_identity)}  # noqa: RUF012 - Litestar's API
    security = PLAYER

    @get(
        "/",
        summary="The caller's limits, time-out, self-exclusion, reality check and KYC status",
        operation_id="get_responsible_gaming",
        responses=error_responses(*IDENTITY),
    )
    async def read(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.ControlsOut:
        return controls_out(await Protection(db_session, runtime).controls(identity.user_id))

    @put(
        "/",
        summary="Set limits (tighter at once, looser after the cooling-off), a time-out, "
        "a self-exclusion or the reality check",
        operation_id="set_responsible_gaming",
        responses=error_responses(*IDENTITY, *WITH_BODY, ControlCannotBeShortened),
    )
    async def change(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.ControlsIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.ControlsOut:
        maximum = runtime.settings.max_amount_minor
        change = ControlsChange(
            limits=[
                LimitChange(
                    limit.kind,
                    limit.period,
                    None
                    if limit.amount is None
                    else amount_field(limit.amount, f"limits[{i}].amount", maximum_minor=maximum),
                )
                for i, limit in enumerate(data.limits)
            ],
            time_out_hours=data.time_out_hours,
            self_exclusion=data.self_exclusion,
            reality_check_minutes=data.reality_check_minutes,
        )
        controls = await Protection(db_session, runtime).change(identity.user_id, change)
        return controls_out(controls)

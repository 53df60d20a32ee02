"""Request and response bodies of GET and PUT /responsible-gaming. Amounts are major units."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from gamehub.core.money import OptionalAmount

Kind = Literal["deposit", "loss", "wager"]
Period = Literal["day", "week", "month"]
Exclusion = Literal["6_months", "1_year", "5_years", "permanent"]


class LimitIn(Struct, forbid_unknown_fields=True):
    kind: Kind
    # The last 24 hours, 7 days or 30 days.
    period: Period
    # Null removes the limit (after the cooling-off period).
    amount: OptionalAmount


class ControlsIn(Struct, forbid_unknown_fields=True):
    """Each field is optional; an absent one is left as it is."""

    limits: Annotated[list[LimitIn], Meta(max_length=9)] = []
    time_out_hours: (
        Annotated[int, Meta(ge=24, le=1008, description="24 hours to 6 weeks")] | None
    ) = None
    self_exclusion: Annotated[Exclusion, Meta(examples=["6_months"])] | None = None
    reality_check_minutes: (
        Annotated[int, Meta(ge=0, le=1440, description="0 turns the reminder off")] | None
    ) = None


class LimitOut(Struct):
    kind: str
    period: str
    # The limit in force; null while there is none.
    amount: float | None
    # A raise or removal waiting out its cooling-off period: from pending_from,
    # pending_amount (null: no limit) is the limit.
    pending: bool
    pending_amount: float | None
    pending_from: datetime | None
    used: float
    remaining: float | None


class ControlsOut(Struct):
    limits: list[LimitOut]
    time_out_until: datetime | None
    excluded_until: datetime | None
    excluded_permanently: bool
    reality_check_minutes: int | None
    kyc_status: str
    dob: date | None
    email_verified: bool

"""What player protection refuses, by name, with the fields a client shows the player."""

from __future__ import annotations

from gamehub.errors import Conflict, Forbidden


class DateOfBirthRequired(Forbidden):
    """No deposit or bet before the account has a date of birth (PATCH /profile ``dob``)."""

    default_detail = "Set your date of birth (PATCH /profile) before you deposit or play"


class UnderMinimumAge(Forbidden):
    """The player is younger than `minimum_age`: no deposit, no bet."""

    minimum_age: int

    def __init__(self, minimum_age: int) -> None:
        self.minimum_age = minimum_age
        super().__init__(f"Players must be at least {minimum_age} years old")


class VerificationRequired(Forbidden):
    """This action needs a verified identity (`kyc_status` ``verified``) or, where
    `kyc_status` is null, a verified email address."""

    kyc_status: str | None

    def __init__(self, detail: str, *, kyc_status: str | None) -> None:
        self.kyc_status = kyc_status
        super().__init__(detail)


class TimedOut(Forbidden):
    """The player took a time-out: no deposit, bet or join until `ends_at` (withdrawals
    stay open)."""

    ends_at: str

    def __init__(self, ends_at: str) -> None:
        self.ends_at = ends_at
        super().__init__(f"You are on a time-out until {ends_at}")


class SelfExcluded(Forbidden):
    """The player excluded themself: no deposit, bet or join until `ends_at` (null: the
    exclusion is permanent); withdrawals stay open."""

    ends_at: str | None

    def __init__(self, ends_at: str | None) -> None:
        self.ends_at = ends_at
        until = "permanently" if ends_at is None else f"until {ends_at}"
        super().__init__(f"You are self-excluded {until}")


class LimitReached(Forbidden):
    """The amount would pass the player's `limit` (``deposit``, ``loss`` or ``wager``)
    for the `period` (``day``, ``week``, ``month``: the last 24 hours, 7 days, 30 days):
    `amount` is the limit, `remaining` what the period still allows."""

    limit: str
    period: str
    amount: float
    remaining: float

    def __init__(self, *, limit: str, period: str, amount: float, remaining: float) -> None:
        self.limit = limit
        self.period = period
        self.amount = amount
        self.remaining = remaining
        adjective = {"day": "daily", "week": "weekly", "month": "monthly"}.get(period, period)
        super().__init__(
            f"Your {adjective} {limit} limit of {amount:.2f} leaves {remaining:.2f} in this period"
        )


class ControlCannotBeShortened(Conflict):
    """A time-out or self-exclusion in force cannot be shortened or lifted, except by an
    operator acting on a legal order."""


# What a route that takes a stake or a deposit may meet, and a withdrawal.
GATES: tuple[type[Forbidden], ...] = (
    DateOfBirthRequired,
    UnderMinimumAge,
    VerificationRequired,
    TimedOut,
    SelfExcluded,
    LimitReached,
)


class PhoneNotProven(Forbidden):
    """Withdrawals go only to a phone number that completed a deposit into this account
    or that an operator verified; `phone` is the number refused."""

    phone: str

    def __init__(self, phone: str) -> None:
        self.phone = phone
        super().__init__(
            f"Withdrawals go only to a number you have deposited from; {phone} has not been"
        )


class PhoneInUse(Conflict):
    """Another account registered with this phone number; an operator can allow a
    number to be shared."""

    default_detail = "This phone number belongs to another account"


WITHDRAWAL_GATES: tuple[type[Forbidden], ...] = (VerificationRequired, PhoneNotProven)

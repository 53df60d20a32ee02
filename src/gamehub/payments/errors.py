"""What the payment routes and M-Pesa's callbacks refuse, by name."""

from __future__ import annotations

from gamehub.errors import (
    BadGateway,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)


class PaymentsNotConfigured(ServiceUnavailable):
    """This server has no M-Pesa credentials: it takes no deposits or withdrawals."""

    default_detail = "M-Pesa payments are not configured on this server"


class WholeShillingsOnly(ValidationFailed):
    """M-Pesa moves whole shillings: the amount has cents."""

    default_detail = "amount: M-Pesa moves whole shillings only"


class InvalidPhone(ValidationFailed):
    """The phone is not a Kenyan mobile number M-Pesa can pay or charge."""


class WithdrawalOutOfRange(ValidationFailed):
    """A withdrawal is at least `minimum` and at most `maximum`."""

    minimum: float
    maximum: float

    def __init__(self, detail: str, *, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum
        super().__init__(detail)


class DailyWithdrawalLimitReached(ValidationFailed):
    """The withdrawal would take today's total (UTC) past the daily `limit`; `remaining`
    is what may still be withdrawn today."""

    limit: float
    remaining: float

    def __init__(self, detail: str, *, limit: float, remaining: float) -> None:
        self.limit = limit
        self.remaining = remaining
        super().__init__(detail)


class PaymentRefused(BadGateway):
    """M-Pesa refused the request outright; nothing was charged or paid."""


class MpesaUnreachable(ServiceUnavailable):
    """M-Pesa could not be reached, so the outcome is unknown: the payment is recorded,
    and settles by itself when M-Pesa answers (an approved prompt still credits it)."""


class DepositNotFound(NotFound):
    """The caller has no deposit with this id."""

    default_detail = "No such deposit"


class WithdrawalNotFound(NotFound):
    """The caller has no withdrawal with this id."""

    default_detail = "No such withdrawal"


class MalformedCallback(BadRequest):
    """A callback's body is not the Daraja message its route takes."""


class CallbackSourceForbidden(Forbidden):
    """A callback from an address that is not one of M-Pesa's."""

    default_detail = "Callbacks are accepted from M-Pesa's addresses only"


class PaymentNotFound(NotFound):
    """No deposit or withdrawal has this id (an operator's review)."""


class NotForReview(Conflict):
    """The payment is not waiting for an operator (settled already, or still in flight)."""


class NotAwaitingApproval(Conflict):
    """The withdrawal is not waiting for an operator's approval: approved or rejected
    already, or never above the threshold."""

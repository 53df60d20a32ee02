"""What the operator routes refuse, and why, by name."""

from __future__ import annotations

from gamehub.errors import Conflict, Forbidden, NotFound, ValidationFailed


class StaffOnly(Forbidden):
    """The route is for operators holding one of the roles in `roles`; the caller holds
    none of them."""

    roles: list[str]

    def __init__(self, roles: list[str]) -> None:
        self.roles = sorted(roles)
        super().__init__("This needs one of the roles " + ", ".join(self.roles))


class LastAdmin(Conflict):
    """Removing this admin role would leave no active administrator: grant another first."""

    default_detail = "You are the last administrator; grant the role to someone else first"


class NotOnYourself(Conflict):
    """An operator may not deactivate, log out or erase their own account through the API."""

    default_detail = "Not on your own account"


class PlayerNotFound(NotFound):
    """No account has this id (or it was erased)."""

    default_detail = "No such player"


class RoleAlreadyHeld(Conflict):
    """The account holds this role already."""


class RoleNotHeld(NotFound):
    """The account does not hold this role."""


class UnknownRole(ValidationFailed):
    """The role is none of admin, support, finance."""


class PlayerHoldsFunds(Conflict):
    """The account still has money (a balance, or a withdrawal on its way): it cannot be
    erased until that is paid out or settled."""


class PaymentReceiptRequired(ValidationFailed):
    """Resolving a payment as paid needs the M-Pesa receipt that proves it."""

    default_detail = "receipt: required when paid is true (the M-Pesa receipt number)"


class NotExcluded(Conflict):
    """The player has no time-out or self-exclusion in force: there is nothing to lift."""

    default_detail = "The player has no time-out or self-exclusion in force"

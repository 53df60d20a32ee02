"""What the account routes refuse, and why, by name."""

from __future__ import annotations

from gamehub.core.tokens import AccessTokenExpired, InvalidAccessToken
from gamehub.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GamehubError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)

# Registration


class UsernameTaken(Conflict):
    """The username is registered already (public anyway: GET /user/{name} shows it)."""

    default_detail = "That username is already registered"


class RegistrationRefused(Conflict):
    """The email address or roll number belongs to another account; which one is not
    said, since that is nobody's business but the owner's, who is told by mail."""

    default_detail = (
        "These details cannot be registered. If you already have an account, "
        "log in or reset your password"
    )


class InvalidEmail(ValidationFailed):
    """The email address is not a valid address."""


class EmailDomainNotAllowed(ValidationFailed):
    """Registration is open to the addresses of some domains only, listed in
    `allowed_domains`; the email was missing or of another domain."""

    allowed_domains: list[str]

    def __init__(self, detail: str, allowed_domains: list[str]) -> None:
        self.allowed_domains = list(allowed_domains)
        super().__init__(detail)


class PasswordTooCommon(ValidationFailed):
    """The password is among the commonly used ones, or is the username."""

    default_detail = "password: too common or too easy to guess; choose another"


# Login and lockout


class InvalidCredentials(Unauthorized):
    """No account has this name (or email) and password; which of the two is wrong is
    not said."""

    default_detail = "Invalid username or password"


class AccountLocked(TooManyRequests):
    """Too many failed logins for this name: its logins are locked for `retry_after`
    seconds, whatever the password."""

    default_detail = "Too many failed logins for this name; try again later"


class AddressLocked(TooManyRequests):
    """Too many failed logins from this address: its logins are refused for
    `retry_after` seconds."""

    default_detail = "Too many failed logins from this address; try again later"


class AccountDisabled(Forbidden):
    """The password is right but the account is disabled."""

    default_detail = "This account is disabled"


# Credentials on a request


class AuthenticationRequired(Unauthorized):
    """The route needs a bearer access token or an API token, and the request has none."""

    default_detail = "Authentication required"


class AccessTokenRevoked(Unauthorized):
    """The access token was revoked: logged out, password changed, or account disabled."""

    default_detail = "Access token has been revoked"


class InvalidApiToken(Unauthorized):
    """The API token is not one of ours (revoked, replaced, or mistyped)."""

    default_detail = "Invalid API token"


class EmailNotVerified(Forbidden):
    """This server requires a verified email address for this route."""

    default_detail = "Verify your email address first (POST /email/verify/request)"


class InvalidRefreshToken(Unauthorized):
    """The refresh token is unknown, expired or revoked, or its account is disabled."""

    default_detail = "Invalid or expired refresh token"


class RefreshTokenReused(Unauthorized):
    """A refresh token was used a second time: every session of its family is revoked,
    since one of the two users is not its owner."""

    default_detail = "Refresh token was already used; every session of it is revoked"


class LogoutNeedsAccessToken(BadRequest):
    """POST /logout ends a login's session; an API token is revoked at DELETE /api-token."""

    default_detail = "Log out with the access token; revoke API tokens at DELETE /api-token"


# Passwords and email


class CurrentPasswordWrong(Forbidden):
    """The current password given to change it is not the account's."""

    default_detail = "Current password is wrong"


class InvalidResetToken(BadRequest):
    """The password reset token is unknown, used or expired."""

    default_detail = "Invalid or expired reset token"


class NoEmailToVerify(Conflict):
    """The account has no email address."""

    default_detail = "This account has no email address to verify"


class EmailAlreadyVerified(Conflict):
    """The account's email address is verified already."""

    default_detail = "Email address is already verified"


class TooManyVerificationEmails(TooManyRequests):
    """The account has had as many verification mails as it may this hour."""

    default_detail = "Too many verification emails; try again later"


class InvalidVerificationToken(BadRequest):
    """The email verification token is unknown, used or expired."""

    default_detail = "Invalid or expired verification token"


# Users and API tokens


class UserNotFound(NotFound):
    """No active user has this name."""

    default_detail = "User not found"


class UserAlreadyDeactivated(Conflict):
    """The account is deactivated already."""


class UserAlreadyActive(Conflict):
    """The account is active already."""


class ApiTokenNeedsLogin(Forbidden):
    """An API token is created with a login's access token, never with an API token:
    otherwise a stolen API token could renew itself for ever."""

    default_detail = "Create an API token with a login's access token, not an API token"


class NoApiToken(NotFound):
    """The account has no API token."""

    default_detail = "There is no API token to revoke"


# What any route that takes the caller's identity can answer.
IDENTITY: tuple[type[GamehubError], ...] = (
    AuthenticationRequired,
    InvalidAccessToken,
    AccessTokenExpired,
    AccessTokenRevoked,
    InvalidApiToken,
    EmailNotVerified,
)

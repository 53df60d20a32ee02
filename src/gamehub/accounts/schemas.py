"""Request and response bodies of the account routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"

Username = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=50,
        pattern=USERNAME_PATTERN,
        description="3 to 50 letters, digits, '_', '.' or '-'",
        examples=["amina_k"],
    ),
]
# The upper bound stops a megabyte "password" from costing a megabyte of hashing.
Password = Annotated[str, Meta(min_length=8, max_length=128, examples=["Tr1cky-Marmot-42"])]
AnyPassword = Annotated[str, Meta(min_length=1, max_length=128, examples=["Tr1cky-Marmot-42"])]
Email = Annotated[str, Meta(max_length=254, examples=["amina@example.com"])]
FullName = Annotated[str, Meta(max_length=100, examples=["Amina Kamau"])]
RollNumber = Annotated[str, Meta(min_length=1, max_length=20)]
Phone = Annotated[
    str, Meta(pattern=r"^\+?[0-9]{9,15}$", description="9 to 15 digits", examples=["254712345678"])
]
AvatarUrl = Annotated[str, Meta(max_length=255, pattern=r"^https?://\S+$")]
OpaqueToken = Annotated[str, Meta(min_length=1, max_length=512, examples=["kX9v2mQ7rT4pL8sW"])]


class RegisterIn(Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    email: Email | None = None
    full_name: FullName | None = None
    roll_number: RollNumber | None = None
    phone: Phone | None = None
    # Required before the first deposit or bet (GAMEHUB_DOB_REQUIRED); PATCH /profile
    # sets it later.
    dob: date | None = None


class CreateUserIn(Struct, forbid_unknown_fields=True):
    """The User Management seed's body: ``name`` is its word for username."""

    password: Password
    name: Username | None = None
    username: Username | None = None


class TokenPair(Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class RegisterOut(Struct):
    id: int
    username: str
    message: str
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class LoginIn(Struct, forbid_unknown_fields=True):
    username: Annotated[str, Meta(min_length=1, max_length=254)]
    password: AnyPassword


class LoginOut(Struct):
    id: int
    name: str
    username: str
    wallet: float
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class RefreshIn(Struct, forbid_unknown_fields=True):
    refresh_token: OpaqueToken


class LogoutIn(Struct, forbid_unknown_fields=True):
    refresh_token: OpaqueToken | None = None


class MessageOut(Struct):
    message: str


class WalletSummary(Struct):
    balance: float
    currency: str


class MeOut(Struct):
    id: int
    username: str
    email: str | None
    email_verified: bool
    full_name: str | None
    roll_number: str | None
    phone: str | None
    is_admin: bool
    created_at: datetime
    last_login: datetime | None
    wallet: WalletSummary


class ProfileOut(Struct):
    id: int
    username: str
    email: str | None
    full_name: str | None
    balance: float
    bio: str | None
    avatar_url: str | None
    location: str | None
    dob: date | None
    created_at: datetime
    updated_at: datetime


class ProfilePatch(Struct, forbid_unknown_fields=True):
    """Only these fields may change; anything else in the body is a 422."""

    full_name: FullName | UnsetType | None = UNSET
    bio: Annotated[str, Meta(max_length=2000)] | UnsetType | None = UNSET
    avatar_url: (
        Annotated[str, Meta(max_length=255, pattern=r"^https?://\S+$")] | UnsetType | None
    ) = UNSET
    location: Annotated[str, Meta(max_length=100)] | UnsetType | None = UNSET
    dob: date | UnsetType | None = UNSET


class PublicUserOut(Struct):
    id: int
    username: str
    name: str
    full_name: str | None
    bio: str | None
    avatar_url: str | None
    location: str | None
    created_at: datetime


class PasswordChangeIn(Struct, forbid_unknown_fields=True):
    current_password: AnyPassword
    new_password: Password


class PasswordForgotIn(Struct, forbid_unknown_fields=True):
    email: Email


class PasswordResetIn(Struct, forbid_unknown_fields=True):
    token: OpaqueToken
    new_password: Password


class TokenIn(Struct, forbid_unknown_fields=True):
    token: OpaqueToken


class ApiTokenOut(Struct):
    api_token: str
    hint: str
    created_at: datetime
    message: str


class ApiTokenInfo(Struct):
    exists: bool
    hint: str | None = None
    created_at: datetime | None = None
    last_used_at: datetime | None = None


def public_user(
    user_id: int,
    username: str,
    full_name: str | None,
    bio: str | None,
    avatar_url: str | None,
    location: str | None,
    created_at: datetime,
) -> dict[str, object]:
    """The cacheable public view of a user, as plain JSON-ready data."""
    data: dict[str, object] = msgspec.to_builtins(
        PublicUserOut(
            id=user_id,
            username=username,
            name=username,
            full_name=full_name,
            bio=bio,
            avatar_url=avatar_url,
            location=location,
            created_at=created_at,
        )
    )
    return data

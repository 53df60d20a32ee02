"""Account routes. Thin: parse, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from gamehub.accounts import schemas
from gamehub.accounts.deps import (
    ALLOW_UNVERIFIED,
    CurrentIdentity,
    client_ip,
    load_user,
    provide_identity,
    read_as_caller,
)
from gamehub.accounts.errors import (
    IDENTITY,
    AccountDisabled,
    AccountLocked,
    AddressLocked,
    ApiTokenNeedsLogin,
    CurrentPasswordWrong,
    EmailAlreadyVerified,
    EmailDomainNotAllowed,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    InvalidResetToken,
    InvalidVerificationToken,
    LogoutNeedsAccessToken,
    NoApiToken,
    NoEmailToVerify,
    PasswordTooCommon,
    RefreshTokenReused,
    RegistrationRefused,
    TooManyVerificationEmails,
    UsernameTaken,
    UserNotFound,
)
from gamehub.accounts.service import (
    AccountService,
    IssuedTokens,
    caller_profile_row,
    profile_view,
    public_user_body,
)
from gamehub.core.db import DbSession
from gamehub.core.money import to_major
from gamehub.core.openapi import PLAYER
from gamehub.core.ratelimit import RateLimited
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import (
    WITH_BODY,
    BadRequest,
    DatabaseBusy,
    error_responses,
)
from gamehub.models import User
from gamehub.protection.errors import PhoneInUse


def _register_out(user: User, tokens: IssuedTokens) -> schemas.RegisterOut:
    return schemas.RegisterOut(
        id=user.id,
        username=user.username,
        message=f"User {user.username} created successfully!",
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
    )


def _token_pair(tokens: IssuedTokens) -> schemas.TokenPair:
    return schemas.TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
    )


class AuthController(Controller):
    tags = ["accounts"]  # noqa: RUF012 - Litestar reads these as class attributes

    @post(
        "/register",
        summary="Create an account",
        responses=error_responses(
            *WITH_BODY,
            UsernameTaken,
            RegistrationRefused,
            PhoneInUse,
            InvalidEmail,
            EmailDomainNotAllowed,
            PasswordTooCommon,
            RateLimited,
        ),
    )
    async def register(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.RegisterIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.RegisterOut:
        await runtime.rate_limits.hit(
            "register_ip", client_ip(request, runtime.settings.trusted_proxies)
        )
        if data.email is not None:
            await runtime.rate_limits.hit("register_email", data.email.strip().lower())
        user, tokens = await AccountService(db_session, runtime).register(data)
        return _register_out(user, tokens)

    @post(
        "/create_user",
        summary="Create an account (User Management seed form)",
        responses=error_responses(
            BadRequest,
            *WITH_BODY,
            UsernameTaken,
            RegistrationRefused,
            InvalidEmail,
            EmailDomainNotAllowed,
            PasswordTooCommon,
            RateLimited,
        ),
    )
    async def create_user(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.CreateUserIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.RegisterOut:
        await runtime.rate_limits.hit(
            "register_ip", client_ip(request, runtime.settings.trusted_proxies)
        )
        username = data.username or data.name
        if username is None:
            # The generic code: the User Management seed's clients expect this very body.
            raise BadRequest("name or username is required")
        user, tokens = await AccountService(db_session, runtime).register(
            schemas.RegisterIn(username=username, password=data.password)
        )
        return _register_out(user, tokens)

    @post(
        "/login",
        status_code=HTTP_200_OK,
        summary="Log in with username or email",
        responses=error_responses(
            *WITH_BODY,
            InvalidCredentials,
            AccountLocked,
            AddressLocked,
            AccountDisabled,
            DatabaseBusy,
            RateLimited,
        ),
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.LoginIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.LoginOut:
        service = AccountService(db_session, runtime)
        ip = client_ip(request, runtime.settings.trusted_proxies)
        name = data.username.strip()
        await runtime.rate_limits.hit("login_ip", ip)
        await runtime.rate_limits.hit("login_account", name.lower())
        user, wallet = await service.login(name, data.password, ip)
        tokens = await service.issue_tokens(user)
        return schemas.LoginOut(
            id=user.id,
            name=user.username,
            username=user.username,
            wallet=to_major(wallet.balance),
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_type=tokens.token_type,
            expires_in=tokens.expires_in,
        )

    @post(
        "/token/refresh",
        status_code=HTTP_200_OK,
        summary="Rotate a refresh token",
        operation_id="refresh_token",
        responses=error_responses(*WITH_BODY, InvalidRefreshToken, RefreshTokenReused),
    )
    async def refresh(
        self, data: JSONBody[schemas.RefreshIn], db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.TokenPair:
        return _token_pair(await AccountService(db_session, runtime).refresh(data.refresh_token))

    @post(
        "/logout",
        status_code=HTTP_200_OK,
        dependencies={"identity": Provide(provide_identity)},
        security=PLAYER,
        opt={ALLOW_UNVERIFIED: True},
        summary="Revoke this session's refresh and access tokens",
        responses=error_responses(*IDENTITY, *WITH_BODY, LogoutNeedsAccessToken),
    )
    async def logout(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
        data: JSONBody[schemas.LogoutIn | None] = None,
    ) -> schemas.MessageOut:
        service = AccountService(db_session, runtime)
        claims = identity.claims
        if claims is None:
            raise LogoutNeedsAccessToken()
        await service.logout(
            await load_user(db_session, identity),
            claims.jti,
            claims.family_id,
            claims.expires_at,
            data.refresh_token if data else None,
        )
        return schemas.MessageOut(message="Logged out")

    @post(
        "/password/forgot",
        status_code=HTTP_202_ACCEPTED,
        summary="Mail a reset token",
        responses=error_responses(*WITH_BODY, RateLimited),
    )
    async def forgot_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.PasswordForgotIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.MessageOut:
        limits = runtime.rate_limits
        await limits.hit("password_forgot_ip", client_ip(request, runtime.settings.trusted_proxies))
        await limits.hit("password_forgot_email", data.email.strip().lower())
        await AccountService(db_session, runtime).forgot_password(data.email)
        return schemas.MessageOut(
            message="If an account has that email address, a reset token is on its way"
        )

    @post(
        "/password/reset",
        status_code=HTTP_200_OK,
        summary="Set a new password with a token",
        responses=error_responses(*WITH_BODY, InvalidResetToken, PasswordTooCommon),
    )
    async def reset_password(
        self, data: JSONBody[schemas.PasswordResetIn], db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.MessageOut:
        await AccountService(db_session, runtime).reset_password(data.token, data.new_password)
        return schemas.MessageOut(message="Password has been reset; log in with the new one")

    @post(
        "/email/verify/confirm",
        status_code=HTTP_200_OK,
        summary="Confirm an email address",
        responses=error_responses(*WITH_BODY, InvalidVerificationToken),
    )
    async def confirm_email(
        self, data: JSONBody[schemas.TokenIn], db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.MessageOut:
        user = await AccountService(db_session, runtime).confirm_verification(data.token)
        return schemas.MessageOut(message=f"Email address of {user.username} is verified")

    @get(
        "/user/{name:str}",
        operation_id="get_user",
        summary="Public profile of a user (cached)",
        responses={
            200: ResponseSpec(data_container=schemas.PublicUserOut, generate_examples=False),
            **error_responses(UserNotFound),
        },
    )
    async def public_user(self, name: FromPath[str], runtime: RuntimeDep) -> Response[bytes]:
        body = await public_user_body(runtime, name)
        if body is None:
            raise UserNotFound()
        return Response(body, media_type=MediaType.JSON)


class MeController(Controller):
    """Routes about the caller's own account."""

    tags = ["accounts"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"identity": Provide(provide_identity)}  # noqa: RUF012 - Litestar's API
    security = PLAYER

    @get(
        "/me",
        opt={ALLOW_UNVERIFIED: True},
        summary="The caller's account",
        operation_id="get_me",
        responses=error_responses(*IDENTITY),
    )
    async def me(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.MeOut:
        user = await load_user(db_session, identity)
        wallet = await AccountService(db_session, runtime).wallet_of(user)
        return schemas.MeOut(
            id=user.id,
            username=user.username,
            email=user.email,
            email_verified=user.email_verified,
            full_name=user.full_name,
            roll_number=user.roll_number,
            phone=user.phone,
            is_admin=user.is_admin,
            created_at=user.created_at,
            last_login=user.last_login,
            wallet=schemas.WalletSummary(
                balance=to_major(wallet.balance), currency=wallet.currency
            ),
        )

    @get(
        "/profile",
        summary="The caller's profile",
        operation_id="get_profile",
        responses=error_responses(*IDENTITY, UserNotFound),
    )
    async def profile(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep
    ) -> schemas.ProfileOut:
        read = partial(caller_profile_row, runtime)
        return _profile_out(await read_as_caller(request, runtime, read, UserNotFound))

    @patch(
        "/profile",
        summary="Change full_name, bio, avatar_url, location or dob",
        responses=error_responses(*IDENTITY, *WITH_BODY, UserNotFound),
    )
    async def update_profile(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.ProfilePatch],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.ProfileOut:
        user = await load_user(db_session, identity)
        await AccountService(db_session, runtime).update_profile(user, data)
        # Through the session's own connection, which sees what it has just flushed.
        connection = await db_session.connection()
        return _profile_out(await profile_view(runtime, user.id, connection))

    @post(
        "/password/change",
        status_code=HTTP_200_OK,
        summary="Change the password",
        responses=error_responses(*IDENTITY, *WITH_BODY, CurrentPasswordWrong, PasswordTooCommon),
    )
    async def change_password(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.PasswordChangeIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.MessageOut:
        await AccountService(db_session, runtime).change_password(
            await load_user(db_session, identity), data.current_password, data.new_password
        )
        return schemas.MessageOut(message="Password changed; other sessions are logged out")

    @post(
        "/email/verify/request",
        status_code=HTTP_202_ACCEPTED,
        opt={ALLOW_UNVERIFIED: True},
        summary="Mail a verification token",
        responses=error_responses(
            *IDENTITY,
            NoEmailToVerify,
            EmailAlreadyVerified,
            TooManyVerificationEmails,
            RateLimited,
        ),
    )
    async def request_verification(
        self,
        request: Request[Any, Any, Any],
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.MessageOut:
        limits = runtime.rate_limits
        await limits.hit("verify_email_ip", client_ip(request, runtime.settings.trusted_proxies))
        await limits.hit("verify_email_user", identity.user_id)
        await AccountService(db_session, runtime).request_verification(
            await load_user(db_session, identity)
        )
        return schemas.MessageOut(message="A verification token is on its way")

    @post(
        "/api-token",
        summary="Create (or replace) the API token; shown only once",
        responses=error_responses(*IDENTITY, ApiTokenNeedsLogin),
    )
    async def create_api_token(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.ApiTokenOut:
        user = await load_user(db_session, identity)
        token = await AccountService(db_session, runtime).create_api_token(
            user, by_api_token=identity.claims is None
        )
        assert user.api_token_hint is not None
        assert user.api_token_created_at is not None
        return schemas.ApiTokenOut(
            api_token=token,
            hint=user.api_token_hint,
            created_at=user.api_token_created_at,
            message="Store this token now: it is not shown again",
        )

    @get(
        "/api-token",
        summary="Metadata of the API token",
        operation_id="get_api_token",
        responses=error_responses(*IDENTITY),
    )
    async def api_token_info(
        self, identity: CurrentIdentity, db_session: DbSession
    ) -> schemas.ApiTokenInfo:
        user = await load_user(db_session, identity)
        if user.api_token_hash is None:
            return schemas.ApiTokenInfo(exists=False)
        return schemas.ApiTokenInfo(
            exists=True,
            hint=user.api_token_hint,
            created_at=user.api_token_created_at,
            last_used_at=user.api_token_last_used_at,
        )

    @delete(
        "/api-token",
        status_code=HTTP_200_OK,
        summary="Revoke the API token",
        responses=error_responses(*IDENTITY, NoApiToken),
    )
    async def revoke_api_token(
        self, identity: CurrentIdentity, db_session: DbSession
    ) -> schemas.MessageOut:
        if not AccountService.revoke_api_token(await load_user(db_session, identity)):
            raise NoApiToken()
        return schemas.MessageOut(message="API token revoked")


def _profile_out(row: Mapping[str, Any]) -> schemas.ProfileOut:
    return schemas.ProfileOut(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        full_name=row["full_name"],
        balance=to_major(row["balance"]),
        bio=row["bio"],
        avatar_url=row["avatar_url"],
        location=row["location"],
        dob=row["dob"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )

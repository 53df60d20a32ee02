"""Access tokens (short-lived JWTs) and the opaque secrets we store only as digests."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from gamehub.core.clock import Clock, SystemClock
from gamehub.core.params import INT32_MAX, parse_bounded_int
from gamehub.errors import Unauthorized


class InvalidAccessToken(Unauthorized):
    """The access token is not one of ours, or its account is gone."""

    default_detail = "Invalid access token"


class AccessTokenExpired(Unauthorized):
    """The access token has expired: refresh it (POST /token/refresh)."""

    default_detail = "Access token has expired"


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret: enough, since it cannot be guessed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_family_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    jti: str
    family_id: str
    # Fractional seconds: a password change must outdate a token issued a moment earlier.
    issued_at: float
    expires_at: int


# Tokens whose signature this process has checked: a client sends the same token with
# every request until it expires, and checking the signature again costs more CPU than
# the rest of a cached read. Only the expiry is checked again; revocations are checked
# per request elsewhere, whatever this remembers.
VERIFIED_TOKENS_KEPT = 10_000


class AccessTokens:
    def __init__(
        self, secret: str, algorithm: str, ttl_seconds: int, clock: Clock | None = None
    ) -> None:
        # The runtime's clock issues and expires tokens, PyJWT's own reading of the time
        # being switched off: a test moves it past an expiry instead of waiting.
        self._clock = clock or SystemClock()
        self._secret = secret
        self._algorithm = algorithm
        self.ttl_seconds = ttl_seconds
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue(self, user_id: int, family_id: str) -> str:
        now = self._clock.now().timestamp()
        claims = {
            "sub": str(user_id),
            "jti": uuid.uuid4().hex,
            "fam": family_id,
            "typ": "access",
            "iat": now,
            "exp": int(now) + self.ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def decode(self, token: str) -> AccessClaims:
        verified = self._verified.get(token)
        if verified is not None:
            # As PyJWT rules: expired once the clock reaches ``exp``.
            if verified.expires_at <= self._clock.now().timestamp():
                del self._verified[token]
                raise AccessTokenExpired()
            return verified
        verified = self._verify(token)
        self._verified[token] = verified
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return verified

    def _verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                options={
                    "require": ["sub", "jti", "exp", "iat"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise AccessTokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken() from exc
        # We only ever sign a user id as the subject; whatever else a validly signed
        # token carries there must be refused here, not reach the database.
        subject = claims["sub"]
        user_id = parse_bounded_int(subject, INT32_MAX) if isinstance(subject, str) else None
        if claims.get("typ") != "access" or user_id is None:
            raise InvalidAccessToken()
        issued_at, expires_at = claims["iat"], claims["exp"]
        if not all(
            isinstance(moment, int | float) and not isinstance(moment, bool)
            for moment in (issued_at, expires_at)
        ):
            raise InvalidAccessToken()
        # As PyJWT rules: expired once the clock reaches ``exp``.
        if expires_at <= self._clock.now().timestamp():
            raise AccessTokenExpired()
        return AccessClaims(
            user_id=user_id,
            jti=str(claims["jti"]),
            family_id=str(claims.get("fam", "")),
            issued_at=float(issued_at),
            expires_at=int(expires_at),
        )

"""Password hashing: argon2id for new hashes; werkzeug's formats verify for imported users.

Hashing costs tens of milliseconds of CPU, so the async helpers run it in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# werkzeug wrote "pbkdf2:sha256" with no iteration count in some releases; this was its default.
_WERKZEUG_LEGACY_PBKDF2_ITERATIONS = 260_000


class PasswordHashing:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verifying against this when the user does not exist keeps both paths equally slow.
        self._decoy = self._argon2.hash("decoy password for unknown users")

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        if stored_hash is None:
            self._verify_argon2(self._decoy, password)
            return False
        if stored_hash.startswith("$argon2"):
            return self._verify_argon2(stored_hash, password)
        return _verify_werkzeug(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        if not stored_hash.startswith("$argon2"):
            return True
        return self._argon2.check_needs_rehash(stored_hash)

    def _verify_argon2(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, stored_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, stored_hash, password)


def _verify_werkzeug(stored_hash: str, password: str) -> bool:
    """Verify ``method$salt$hexdigest`` as written by werkzeug.security.generate_password_hash."""
    try:
        method, salt, expected = stored_hash.split("$", 2)
        kind, *args = method.split(":")
        if kind == "pbkdf2":
            digest_name = args[0] if args else "sha256"
            iterations = int(args[1]) if len(args) > 1 else _WERKZEUG_LEGACY_PBKDF2_ITERATIONS
            actual = hashlib.pbkdf2_hmac(
                digest_name, password.encode(), salt.encode(), iterations
            ).hex()
        elif kind == "scrypt":
            n, r, p = (int(a) for a in args) if args else (2**15, 8, 1)
            actual = hashlib.scrypt(
                password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
            ).hex()
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    """True for a password on zxcvbn's list of the 30,000 most used ones."""
    return password.lower() in _common_passwords()

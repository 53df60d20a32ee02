"""Password hashing: argon2id for new hashes; werkzeug's formats verify for imported users.

A hash costs tens of milliseconds of CPU and argon2 releases the GIL while it runs, so
the async helpers run it in one pool per process with a thread per core (the cores
shared among the server's workers): concurrent
logins queue there instead of piling threads onto the cores (asyncio's default
executor would start up to cores + 4), and on Linux the pool's threads run at a lower
priority, so that the event loop, which answers every other route, is served first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

# werkzeug wrote "pbkdf2:sha256" with no iteration count in some releases; this was its default.
_WERKZEUG_LEGACY_PBKDF2_ITERATIONS = 260_000
# The nice value of the hashing threads (the process itself stays at its own).
HASHING_THREAD_NICE = 10

T = TypeVar("T")


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
        """Whether the hash is weaker than the configured one in any respect: a werkzeug
        hash, another argon2 variant or version, or a lower memory, time, parallelism,
        salt or output length. A hash stronger in every respect is kept as it is, so
        that lowering the configured cost never downgrades what is stored.

        (argon2-cffi's own check_needs_rehash asks for a rehash on any difference,
        stronger ones included.)
        """
        if not stored_hash.startswith("$argon2"):
            return True
        try:
            stored = extract_parameters(stored_hash)
        except InvalidHashError:
            return True
        wanted = self._argon2
        return (
            stored.type is not Type.ID
            or stored.version < ARGON2_VERSION
            or stored.memory_cost < wanted.memory_cost
            or stored.time_cost < wanted.time_cost
            or stored.parallelism < wanted.parallelism
            or stored.salt_len < wanted.salt_len
            or stored.hash_len < wanted.hash_len
        )

    def _verify_argon2(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        return await _in_hashing_pool(self.hash, password)

    async def verify_async(self, stored_hash: str | None, password: str) -> bool:
        return await _in_hashing_pool(self.verify, stored_hash, password)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


# Set by ``gamehub serve`` for its workers: how many processes share these cores.
WORKERS_ENV = "GAMEHUB_WORKERS"


def hashing_threads() -> int:
    """The cores this process may run on, shared with the server's other workers.

    More hashing threads than cores only makes the hashes slower: argon2 is memory-hard,
    and two 19 MiB working sets taking turns on one core evict each other's cache lines
    (measured: 35 ms of CPU per login with two threads per worker on two workers, 24 ms
    per hash with one per core).
    """
    if hasattr(os, "sched_getaffinity"):
        cores = max(1, len(os.sched_getaffinity(0)))
    else:
        cores = os.cpu_count() or 1
    try:
        workers = max(1, int(os.environ.get(WORKERS_ENV, "1")))
    except ValueError:
        workers = 1
    return max(1, -(-cores // workers))


def _hashing_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=hashing_threads(),
                    thread_name_prefix="gamehub-hashing",
                    initializer=_lower_thread_priority,
                )
    return _pool


def _forget_pool_in_child() -> None:
    # A forked child has none of the parent's threads: it starts a pool of its own.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _lower_thread_priority() -> None:
    # On Linux a nice value belongs to a thread (setpriority on its native id); elsewhere
    # the same call would lower the whole process, event loop included, so it is skipped.
    # Raising one's own nice value needs no privilege; a sandbox that forbids the call
    # only costs the preference.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(
                os.PRIO_PROCESS,
                threading.get_native_id(),
                os.getpriority(os.PRIO_PROCESS, 0) + HASHING_THREAD_NICE,
            )


async def _in_hashing_pool(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool(), function, *args)


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

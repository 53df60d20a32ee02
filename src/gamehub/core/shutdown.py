"""Hearing that the server is stopping before it waits for our responses to end.

granian (like uvicorn) answers SIGTERM or SIGINT by refusing new connections and waiting
for every open response to finish, and only then runs the app's lifespan shutdown. An
event stream never finishes by itself, so the app has to hear the signal itself: each
worker adds its own handler in front of the one the server installed, and calls the
server's after its own, so that the server's shutdown goes on exactly as before.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

logger = logging.getLogger("gamehub.shutdown")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def on_stop_signal(
    callback: Callable[[], None], signals: tuple[signal.Signals, ...] = STOP_SIGNALS
) -> Iterator[None]:
    """Inside the block, call ``callback`` on the running loop when one of ``signals``
    arrives, then whatever handled the signal before. A signal the process does not
    handle in Python (SIG_DFL, SIG_IGN) is left alone: nothing stops gracefully on it.
    Must be entered on the main thread, where Python delivers signals."""
    loop = asyncio.get_running_loop()
    chained: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("%s: ending event streams and stopping", signal.Signals(signum).name)
        loop.call_soon_threadsafe(callback)
        chained[signum](signum, frame)

    for sig in signals:
        previous = signal.getsignal(sig)
        if callable(previous):
            chained[sig] = previous
            signal.signal(sig, handle)
    try:
        yield
    finally:
        for signum, before in chained.items():
            # Only ours is put back: a handler installed after ours stays.
            if signal.getsignal(signum) is handle:
                signal.signal(signum, before)


def skip_exit_collections() -> None:
    """For a process that is about to exit: what is left is the whole imported program,
    which the interpreter's exit would traverse with several full garbage collections
    (seconds, on a loaded machine, after the server itself had stopped). Frozen, those
    collections skip it; the operating system frees the memory anyway."""
    gc.freeze()

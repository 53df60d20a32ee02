"""The stop signal reaches the app first and the server's own handler after it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from gamehub.core.shutdown import on_stop_signal


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """SIGUSR1 handled as a server handles SIGTERM: a Python handler that records it."""
    heard: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        heard.append(signum)

    before = signal.signal(signal.SIGUSR1, handler)
    yield heard
    signal.signal(signal.SIGUSR1, before)


async def test_the_app_hears_the_signal_and_the_server_still_does(
    server_handler: list[int],
) -> None:
    server_owned = signal.getsignal(signal.SIGUSR1)
    heard = asyncio.Event()
    with on_stop_signal(heard.set, (signal.SIGUSR1,)):
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(heard.wait(), 5)
        assert server_handler == [signal.SIGUSR1]
    # Put back as it was: a later signal is the server's alone.
    assert signal.getsignal(signal.SIGUSR1) is server_owned


async def test_a_signal_nobody_handles_in_python_is_left_alone() -> None:
    before = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        with on_stop_signal(lambda: None, (signal.SIGUSR2,)):
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, before)

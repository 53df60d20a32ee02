"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP verb at INFO; the tests read messages, not the dialogue.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content)
        with self.sink.lock:
            self.sink.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    async def wait_for(self, address: str, count: int = 1, within: float = 10) -> list[Message]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        have = len(self.to(address))
        raise AssertionError(f"no email to {address} within {within}s (have {have})")


def token_in(message: Message) -> str:
    """The token a verification or reset email carries."""
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    match = re.search(r"token: (\S+)", payload.decode())
    assert match, "the email holds no token"
    return match.group(1)

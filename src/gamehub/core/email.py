"""Outgoing email: SMTP when ``GAMEHUB_SMTP_URL`` is set, otherwise the log.

A mail's body carries one-time links (a password reset, an email verification): it goes
to the log only where a developer reads it (``log_bodies``), never to a production log.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

logger = logging.getLogger("gamehub.email")


class Mailer:
    def __init__(self, smtp_url: str | None, sender: str, *, log_bodies: bool = False) -> None:
        self.sender = sender
        self._log_bodies = log_bodies
        self._smtp_url = smtp_url
        self._pending: set[asyncio.Task[None]] = set()

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if self._smtp_url is None:
            if self._log_bodies:
                logger.info("email to %s: %s\n%s", to, subject, body)
            else:
                logger.info("email to %s: %s (not sent: no SMTP server is set)", to, subject)
            return
        parts = urlsplit(self._smtp_url)
        implicit_tls = parts.scheme == "smtps"
        await aiosmtplib.send(
            message,
            hostname=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=None if implicit_tls else ("starttls=true" in parts.query or None),
            timeout=30,
        )

    def send_later(self, to: str, subject: str, body: str) -> None:
        """Send without holding up the response; failures are logged, never raised."""
        task = asyncio.create_task(self._send_logged(to, subject, body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_logged(self, to: str, subject: str, body: str) -> None:
        try:
            await self.send(to, subject, body)
        except Exception:
            logger.exception("could not send email %r to %s", subject, to)

    async def drain(self) -> None:
        """Wait for mail still being sent (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

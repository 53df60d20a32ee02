"""What the event streams refuse, by name."""

from __future__ import annotations

from gamehub.errors import ServiceUnavailable, TooManyRequests, Unauthorized


class InvalidTicket(Unauthorized):
    """The stream ticket is unknown, expired or used already: ask for another."""

    default_detail = "The ticket is invalid, expired or already used"


class TooManyStreams(TooManyRequests):
    """The user (or, for a watcher, the address) holds as many event streams as it may:
    close one, or try again in `retry_after` seconds."""


class WorkerBusy(ServiceUnavailable):
    """This worker holds as many event streams as it may; another worker (or this one,
    in `retry_after` seconds) can take the watcher."""

    retry_after: int
    default_detail = "This server is holding as many event streams as it can; try again shortly"

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after = retry_after_seconds
        super().__init__()

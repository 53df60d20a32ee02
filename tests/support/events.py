"""Waiting on the event bus: a test opens its subscription before it acts, then reads what
the action published, instead of sleeping until a listener is ready or an event is due."""

from __future__ import annotations

import anyio

from gamehub.core.events import Event, Subscription


async def events_until(subscription: Subscription, name: str, within: float = 5) -> list[Event]:
    """What the subscription hears, up to and including the first event called ``name``."""
    received: list[Event] = []
    with anyio.fail_after(within):
        while not received or received[-1].name != name:
            if (event := await subscription.get()) is not None:
                received.append(event)
    return received

"""Responses of the live-event routes."""

from __future__ import annotations

from msgspec import Struct


class TicketOut(Struct):
    # Pass as ?ticket= to GET /events/connect within expires_in seconds; it works once.
    ticket: str
    expires_in: int

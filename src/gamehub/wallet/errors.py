"""What the ledger and the wallet routes refuse, by name."""

from __future__ import annotations

from gamehub.errors import Conflict


class InsufficientFunds(Conflict):
    """The wallet's balance is lower than what the request would take from it; nothing
    was taken."""

    default_detail = "Insufficient funds in the wallet"


class AlreadyPosted(Conflict):
    """The business reference was posted before: the movement happened already."""

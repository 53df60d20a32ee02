"""The payments' counters on /metrics: every committed move of a deposit or a withdrawal
into a status, wherever in the payments it happens (a request, a callback, the
reconciler, an operator's review), counted once its transaction commits.

A flush listener rather than a call at each place a status is set: a status set where
nobody remembered to count would be a silent hole in the metric.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from gamehub.core import metrics
from gamehub.core.db import Phase, after_commit
from gamehub.models import Deposit, Withdrawal

_KINDS: dict[type[Any], str] = {Deposit: "deposit", Withdrawal: "withdrawal"}


@event.listens_for(Session, "after_flush")
def _count_status_moves(session: Session, _: Any) -> None:
    moves: list[tuple[str, str]] = []
    for payment in (*session.new, *session.dirty):
        kind = _KINDS.get(type(payment))
        if kind is None:
            continue
        if payment in session.new or inspect(payment).attrs.status.history.added:
            moves.append((kind, payment.status))
    if not moves:
        return

    async def count() -> None:
        for kind, status in moves:
            metrics.PAYMENTS.labels(kind, status).inc()

    after_commit(session, count, phase=Phase.DERIVED)

"""Counting what a request sends to the database: each statement, BEGIN, COMMIT and
ROLLBACK, in order. Pins on these keep round trips from creeping back unnoticed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from gamehub.core.runtime import Runtime


@contextmanager
def round_trips(runtime: Runtime) -> Iterator[list[str]]:
    """The statements sent meanwhile (whitespace collapsed) and the transaction ends."""
    sent: list[str] = []
    engine = runtime.db.engine.sync_engine

    def statement(_: Any, __: Any, text: str, *___: Any) -> None:
        sent.append(" ".join(text.split()))

    def begin(_: Any) -> None:
        sent.append("BEGIN")

    def commit(_: Any) -> None:
        sent.append("COMMIT")

    def rollback(_: Any) -> None:
        sent.append("ROLLBACK")

    hooks = [
        ("before_cursor_execute", statement),
        ("begin", begin),
        ("commit", commit),
        ("rollback", rollback),
    ]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        yield sent
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)

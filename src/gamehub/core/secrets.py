"""The install's own secrets: configured, or generated once and kept in the database.

A secret left unset is generated on the first start and stored with insert-if-absent,
so that every worker and host of one install, and every CLI command, ends up with the
same value whichever of them started first: the loser of the race reads the winner's.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gamehub.core.db import Database
from gamehub.models import InstallSecret
from gamehub.settings import Settings

logger = logging.getLogger("gamehub.secrets")

JWT_SECRET = "jwt_secret"
CALLBACK_SECRET = "mpesa_callback_secret"


async def load_secrets(db: Database, settings: Settings) -> Settings:
    """``settings`` with every unset secret filled in from (or generated into) the database.

    Logs where each secret comes from, never its value.
    """
    resolved: dict[str, str] = {}
    for name, variable in ((JWT_SECRET, "jwt_secret"), (CALLBACK_SECRET, "mpesa_callback_secret")):
        if getattr(settings, variable):
            logger.info("%s: from GAMEHUB_%s", name, variable.upper())
            continue
        resolved[variable] = await _stored_or_generated(db, name)
        logger.info(
            "%s: generated for this install, kept in the database table %s (%s)",
            name,
            InstallSecret.__tablename__,
            db.engine.url.render_as_string(hide_password=True),
        )
    return settings.model_copy(update=resolved) if resolved else settings


async def _stored_or_generated(db: Database, name: str) -> str:
    stored = await _stored(db, name)
    if stored is not None:
        return stored
    try:
        async with db.unit_of_work() as session:
            session.add(InstallSecret(name=name, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        # Another worker inserted it first; its value is the install's.
        pass
    stored = await _stored(db, name)
    assert stored is not None, "an install secret vanished right after it was written"
    return stored


async def _stored(db: Database, name: str) -> str | None:
    async with db.unit_of_work() as session:
        result = await session.execute(
            select(InstallSecret.value).where(InstallSecret.name == name)
        )
        return result.scalar_one_or_none()

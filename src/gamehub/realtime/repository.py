"""SQL the live-event routes need."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import RouletteRoom


async def room_exists(session: AsyncSession, room_id: int) -> bool:
    found = await session.execute(select(RouletteRoom.id).where(RouletteRoom.id == room_id))
    return found.first() is not None

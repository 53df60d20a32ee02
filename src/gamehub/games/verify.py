"""Recompute a settled bet from its revealed seed: what players and operators check."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import Database
from gamehub.games import config, fairness
from gamehub.games.errors import RoomSeedNotRevealed, SeedHashMismatch, SeedStillSecret
from gamehub.games.repository import GameRepository
from gamehub.games.schemas import VerifyOut
from gamehub.models import Bet, FairnessSeed
from gamehub.models.games import BetKind, RoomStatus, SeatStatus


async def verify_bet(session: AsyncSession, db: Database, bet: Bet) -> VerifyOut:
    if bet.kind == BetKind.SPIN.value:
        return await _verify_spin(session, db, bet)
    return await _verify_roulette(session, bet)


async def _verify_spin(session: AsyncSession, db: Database, bet: Bet) -> VerifyOut:
    seed = await session.get(FairnessSeed, bet.seed_id) if bet.seed_id is not None else None
    if seed is None or seed.revealed_at is None:
        raise SeedStillSecret()
    assert bet.client_seed is not None
    assert bet.nonce is not None
    assert bet.reward_table_version is not None
    # The table the bet was played with, whatever is in force now.
    table = await config.table_of(session, db, bet.game_id, bet.reward_table_version)
    outcome = fairness.verify_spin(
        seed.server_seed, bet.server_seed_hash, bet.client_seed, bet.nonce, table
    )
    return VerifyOut(
        bet_id=bet.id,
        kind=bet.kind,
        server_seed=seed.server_seed,
        server_seed_hash=bet.server_seed_hash,
        client_seed=bet.client_seed,
        nonce=bet.nonce,
        result=bet.result,
        recomputed=outcome.label,
        matches=outcome.label == bet.result,
        reward_table_version=bet.reward_table_version,
        reward_table=table.public(),
    )


async def _verify_roulette(session: AsyncSession, bet: Bet) -> VerifyOut:
    repo = GameRepository(session)
    room = None if bet.room_id is None else await repo.room(bet.room_id)
    if room is None or not room.is_over:
        raise RoomSeedNotRevealed()
    if fairness.seed_hash(room.seed) != bet.server_seed_hash:
        raise SeedHashMismatch()
    chamber = fairness.bullet_chamber(room.seed)
    recomputed = f"bullet in chamber {chamber}"
    matches = True
    if room.status == RoomStatus.FINISHED.value and room.end_reason == "hit":
        seats = [s for s in await repo.seats(room.id) if s.status != SeatStatus.LEFT.value]
        hit = next(s for s in seats if s.seat == (chamber - 1) % len(seats))
        recomputed += f": seat {hit.seat} (user {hit.user_id}) eliminated"
        matches = room.eliminated_user_id == hit.user_id and room.chambers_pulled == chamber
    return VerifyOut(
        bet_id=bet.id,
        kind=bet.kind,
        server_seed=room.seed,
        server_seed_hash=bet.server_seed_hash,
        client_seed=None,
        nonce=None,
        result=bet.result,
        recomputed=recomputed,
        matches=matches,
    )

"""How a roulette room's money ends up: stakes refunded, a pot shared, side bets paid.

Stakes and side bets wait in game escrow; every path out of it is a balanced ledger
transaction, so ``gamehub ledger verify`` holds after any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.games.catalog import RUSSIAN_ROULETTE, rake
from gamehub.models import Bet, RouletteRoom, RouletteSeat
from gamehub.models.games import BetKind, BetStatus, RoomStatus, SeatStatus
from gamehub.models.ledger import AccountKind, Category
from gamehub.stats.hooks import GameResult
from gamehub.wallet.ledger import Ledger, Posting


@dataclass(frozen=True, slots=True)
class Settlement:
    # Minor units paid to each player (0 for the one eliminated).
    payouts: dict[int, int]
    results: list[GameResult]


def parse_odds(odds: str) -> Fraction:
    return Fraction(odds)


async def lock_wallets(session: AsyncSession, user_ids: Iterable[int], currency: str) -> None:
    """Lock the wallets a unit of work will pay into or take from, in ascending account
    id (the order :meth:`Ledger.post` locks in), before its first posting.

    A settlement posts several times (the pot, then each side bet); locking as it goes
    would take two players' wallets in one order in one room and in the other order in
    another, and two settlements could deadlock. A single wallet needs none of this: the
    posting's own update locks it.
    """
    users = set(user_ids)
    if len(users) < 2:
        return
    ledger = Ledger(session)
    wallets = [await ledger.wallet(user_id, currency) for user_id in users]
    for wallet in sorted(wallets, key=lambda w: w.id):
        assert wallet.user_id is not None
        await ledger.wallet(wallet.user_id, currency, for_update=True)


async def refund_bet(session: AsyncSession, bet: Bet, currency: str, reason: str) -> None:
    ledger = Ledger(session)
    escrow = await ledger.system_account(AccountKind.GAME_ESCROW, currency)
    wallet = await ledger.wallet(bet.user_id, currency)
    await ledger.post(
        Category.REFUND,
        [Posting(escrow, -bet.amount), Posting(wallet, bet.amount)],
        reference=f"roulette-refund:{bet.id}",
        description=reason,
    )
    bet.status = BetStatus.REFUNDED.value
    bet.win_amount = bet.amount
    bet.settled_at = datetime.now(UTC)


async def finish_room(
    session: AsyncSession,
    runtime: Runtime,
    room: RouletteRoom,
    seats: Sequence[RouletteSeat],
    eliminated_user_id: int,
    reason: str,
    bets: Sequence[Bet],
) -> Settlement:
    """End a game: the eliminated player loses the stake, the others share the pot less
    the rake, side bets are settled (or refunded after a forfeit). The caller records
    the results (``record_results``) once it has announced the game's end, so that
    players hear of the result before their leaderboard moves."""
    now = datetime.now(UTC)
    currency = room.currency
    ledger = Ledger(session)
    escrow = await ledger.system_account(AccountKind.GAME_ESCROW, currency)
    house = await ledger.system_account(AccountKind.HOUSE, currency)

    players = [s for s in seats if s.status == SeatStatus.SEATED.value]
    survivors = [s for s in players if s.user_id != eliminated_user_id]
    bettors = [b.user_id for b in bets if b.kind != BetKind.ROULETTE_STAKE.value]
    await lock_wallets(session, [*(s.user_id for s in survivors), *bettors], currency)
    pot = room.stake * len(players)
    taken = pot * rake(runtime.settings).numerator // rake(runtime.settings).denominator
    share = (pot - taken) // len(survivors)
    # Whatever does not divide evenly goes to the house with the rake.
    taken = pot - share * len(survivors)
    if share:
        await ledger.post(
            Category.WIN,
            [Posting(escrow, -share * len(survivors))]
            + [Posting(await ledger.wallet(s.user_id, currency), share) for s in survivors],
            reference=f"roulette-pot:{room.id}",
            description=f"Russian Roulette room {room.id}: pot shared",
        )
    if taken:
        await ledger.post(
            Category.RAKE,
            [Posting(escrow, -taken), Posting(house, taken)],
            reference=f"roulette-rake:{room.id}",
            description=f"Russian Roulette room {room.id}: rake",
        )

    payouts: dict[int, int] = {}
    results: list[GameResult] = []
    for seat in players:
        survived = seat.user_id != eliminated_user_id
        seat.status = (SeatStatus.SURVIVED if survived else SeatStatus.ELIMINATED).value
        payouts[seat.user_id] = share if survived else 0
        results.append(
            GameResult(seat.user_id, RUSSIAN_ROULETTE, payouts[seat.user_id] - room.stake, survived)
        )
    for bet in bets:
        if bet.kind == BetKind.ROULETTE_STAKE.value:
            bet.win_amount = payouts.get(bet.user_id, 0)
            bet.status = (BetStatus.WON if bet.win_amount else BetStatus.LOST).value
            bet.result = "survived" if bet.win_amount else "eliminated"
            bet.settled_at = now
        elif reason == "forfeit":
            # A player who leaves decides who "is eliminated": bets on that are void.
            await refund_bet(session, bet, currency, "Side bet void: the game was forfeited")
        else:
            results.append(await _settle_side_bet(ledger, bet, eliminated_user_id, currency))

    room.status = RoomStatus.FINISHED.value
    room.eliminated_user_id = eliminated_user_id
    room.end_reason = reason
    room.rake = taken
    room.turn_seat = None
    room.turn_deadline = None
    room.ended_at = now
    await session.flush()
    return Settlement(payouts, results)


async def _settle_side_bet(
    ledger: Ledger, bet: Bet, eliminated_user_id: int, currency: str
) -> GameResult:
    escrow = await ledger.system_account(AccountKind.GAME_ESCROW, currency)
    house = await ledger.system_account(AccountKind.HOUSE, currency)
    target_eliminated = bet.target_user_id == eliminated_user_id
    won = target_eliminated == (bet.kind == BetKind.ELIMINATION.value)
    if won:
        win = fairness.payout(bet.amount, parse_odds(bet.odds or "0"))
        wallet = await ledger.wallet(bet.user_id, currency)
        postings = [Posting(escrow, -bet.amount), Posting(wallet, win)]
        if win != bet.amount:
            postings.append(Posting(house, bet.amount - win))
        await ledger.post(
            Category.WIN,
            postings,
            reference=f"roulette-side-bet:{bet.id}",
            description=f"Side bet won ({bet.kind})",
        )
        bet.win_amount = win
        bet.status = BetStatus.WON.value
    else:
        await ledger.post(
            Category.BET,
            [Posting(escrow, -bet.amount), Posting(house, bet.amount)],
            reference=f"roulette-side-bet:{bet.id}",
            description=f"Side bet lost ({bet.kind})",
        )
        bet.win_amount = 0
        bet.status = BetStatus.LOST.value
    bet.result = "eliminated" if target_eliminated else "survived"
    bet.settled_at = datetime.now(UTC)
    return GameResult(bet.user_id, RUSSIAN_ROULETTE, bet.win_amount - bet.amount, won)

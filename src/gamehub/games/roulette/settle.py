"""How a roulette room's money ends up: stakes refunded, a pot shared, side bets paid.

Stakes and side bets wait in game escrow; every path out of it is a balanced ledger
transaction, so ``gamehub ledger verify`` holds after any of them.

A settlement touches many rows; each kind is written in one statement (every bet's new
state in one batch, every seat's in one UPDATE), and the wallets it pays are read and
locked together, rather than one round trip per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.games.catalog import BPS, RUSSIAN_ROULETTE
from gamehub.games.metrics import count_settled_after_commit
from gamehub.games.repository import GameRepository
from gamehub.models import Account, Bet, RouletteRoom, RouletteSeat
from gamehub.models.games import BetKind, BetStatus, RoomStatus, SeatStatus
from gamehub.models.ledger import AccountKind, Category
from gamehub.stats.hooks import GameResult
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.taxes import Taxes, TaxRule, tax_postings


@dataclass(frozen=True, slots=True)
class Settlement:
    # Minor units paid to each player from the pot (0 for the one eliminated).
    payouts: dict[int, int]
    results: list[GameResult]
    # Everything paid to each user who had money in the room (their pot share, side
    # bets won or refunded), and each one's balance once settled, the eliminated
    # player's included.
    paid: dict[int, int]
    balances: dict[int, int]


def parse_odds(odds: str) -> Fraction:
    return Fraction(odds)


async def lock_wallets(
    session: AsyncSession, user_ids: Iterable[int], currency: str
) -> dict[int, Account]:
    """The wallets a unit of work will pay into or take from, by user id; when there
    are several, locked in ascending account id (the order :meth:`Ledger.post` locks
    in) before its first posting.

    A settlement posts several times (the pot, then each side bet); locking as it goes
    would take two players' wallets in one order in one room and in the other order in
    another, and two settlements could deadlock. A single wallet needs no lock here:
    the posting's own update locks it.
    """
    return await GameRepository(session).wallets(set(user_ids), currency)


def mark_bet(
    bet: Bet, status: BetStatus, win_amount: int, result: str | None, winnings_tax: int = 0
) -> None:
    """Record a bet's outcome on the loaded object, as already stored: ``write_bets``
    stores it, with the room's other bets, in one statement."""
    set_committed_value(bet, "status", status.value)
    set_committed_value(bet, "win_amount", win_amount)
    set_committed_value(bet, "winnings_tax", winnings_tax)
    set_committed_value(bet, "result", result)
    set_committed_value(bet, "settled_at", datetime.now(UTC))


async def write_bets(session: AsyncSession, bets: Sequence[Bet]) -> None:
    await GameRepository(session).write_bet_outcomes(bets)


async def refund_bet(ledger: Ledger, bet: Bet, wallet: Account, currency: str, reason: str) -> None:
    """Give a bet's amount back, from escrow what was in play and from the taxes owed the
    excise it had withheld (a void bet is no taxable stake); the caller writes the bet
    (``write_bets``)."""
    escrow = await ledger.system_account(AccountKind.GAME_ESCROW, currency)
    await ledger.post(
        Category.REFUND,
        [
            Posting(escrow, bet.stake_tax - bet.amount),
            Posting(wallet, bet.amount),
            *await tax_postings(ledger, TaxRule.STAKE, -bet.stake_tax, currency),
        ],
        reference=f"roulette-refund:{bet.id}",
        description=reason,
    )
    mark_bet(bet, BetStatus.REFUNDED, bet.amount, bet.result)


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
    the room's own rake (the one in force when it opened), side bets are settled (or
    refunded after a forfeit), the sessions end. The caller records the results
    (``record_results``) once it has announced the game's end, so that
    players hear of the result before their leaderboard moves."""
    now = datetime.now(UTC)
    currency = room.currency
    ledger = Ledger(session, runtime.events)
    escrow = await ledger.system_account(AccountKind.GAME_ESCROW, currency)
    house = await ledger.system_account(AccountKind.HOUSE, currency)
    taxes = Taxes.of(runtime.settings)

    players = [s for s in seats if s.status == SeatStatus.SEATED.value]
    survivors = [s for s in players if s.user_id != eliminated_user_id]
    bettors = [b.user_id for b in bets if b.kind != BetKind.ROULETTE_STAKE.value]
    # The eliminated player's too, in the same statement: their balance is part of the
    # outcome they are told.
    wallets = await lock_wallets(session, [*(s.user_id for s in players), *bettors], currency)
    stakes = {b.user_id: b for b in bets if b.kind == BetKind.ROULETTE_STAKE.value}
    # What is in play of each stake: the excise withheld from it never reached the pot.
    in_play = {s.user_id: room.stake - _stake_tax(stakes.get(s.user_id)) for s in players}
    pot = sum(in_play.values())
    taken = pot * room.rake_bps // BPS
    share = (pot - taken) // len(survivors)
    # Whatever does not divide evenly goes to the house with the rake.
    taken = pot - share * len(survivors)
    # Each survivor's tax on winnings: on their share less their own stake in play.
    withheld = {s.user_id: taxes.on_winnings(share, in_play[s.user_id]) for s in survivors}
    if share:
        await ledger.post(
            Category.WIN,
            [Posting(escrow, -share * len(survivors))]
            + [Posting(wallets[s.user_id], share - withheld[s.user_id]) for s in survivors]
            + await tax_postings(ledger, TaxRule.WINNINGS, sum(withheld.values()), currency),
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
    paid: dict[int, int] = {}
    for seat in players:
        survived = seat.user_id != eliminated_user_id
        set_committed_value(
            seat, "status", (SeatStatus.SURVIVED if survived else SeatStatus.ELIMINATED).value
        )
        payouts[seat.user_id] = share - withheld[seat.user_id] if survived else 0
        paid[seat.user_id] = payouts[seat.user_id]
        results.append(
            GameResult(seat.user_id, RUSSIAN_ROULETTE, payouts[seat.user_id] - room.stake, survived)
        )
    for bet in bets:
        if bet.kind == BetKind.ROULETTE_STAKE.value:
            won = payouts.get(bet.user_id, 0)
            mark_bet(
                bet,
                BetStatus.WON if won else BetStatus.LOST,
                won,
                "survived" if won else "eliminated",
                withheld.get(bet.user_id, 0),
            )
        elif reason == "forfeit":
            # A player who leaves decides who "is eliminated": bets on that are void.
            await refund_bet(
                ledger,
                bet,
                wallets[bet.user_id],
                currency,
                "Side bet void: the game was forfeited",
            )
            paid[bet.user_id] = paid.get(bet.user_id, 0) + bet.amount
        else:
            results.append(
                await _settle_side_bet(
                    ledger, bet, wallets[bet.user_id], eliminated_user_id, currency, taxes
                )
            )
            paid[bet.user_id] = paid.get(bet.user_id, 0) + bet.win_amount
    await GameRepository(session).finish(
        room,
        bets,
        eliminated_user_id,
        status=RoomStatus.FINISHED.value,
        chambers_pulled=room.chambers_pulled,
        eliminated_user_id=eliminated_user_id,
        end_reason=reason,
        rake=taken,
        turn_seat=None,
        turn_deadline=None,
        ended_at=now,
    )
    balances = {user_id: wallets[user_id].balance for user_id in paid}
    count_settled_after_commit(
        session,
        RUSSIAN_ROULETTE,
        currency,
        [(bet.amount, bet.win_amount) for bet in bets if bet.status != BetStatus.REFUNDED.value],
    )
    return Settlement(payouts, results, paid, balances)


def _stake_tax(bet: Bet | None) -> int:
    return 0 if bet is None else bet.stake_tax


async def _settle_side_bet(
    ledger: Ledger,
    bet: Bet,
    wallet: Account,
    eliminated_user_id: int,
    currency: str,
    taxes: Taxes,
) -> GameResult:
    escrow = await ledger.system_account(AccountKind.GAME_ESCROW, currency)
    house = await ledger.system_account(AccountKind.HOUSE, currency)
    target_eliminated = bet.target_user_id == eliminated_user_id
    won = target_eliminated == (bet.kind == BetKind.ELIMINATION.value)
    # The odds pay on what is in play: the bet less the excise withheld from it.
    in_play = bet.amount - bet.stake_tax
    postings: list[Posting]
    winnings_tax = 0
    if won:
        gross = fairness.payout(in_play, parse_odds(bet.odds or "0"))
        winnings_tax = taxes.on_winnings(gross, in_play)
        win = gross - winnings_tax
        postings = [
            Posting(escrow, -in_play),
            Posting(wallet, win),
            *await tax_postings(ledger, TaxRule.WINNINGS, winnings_tax, currency),
        ]
        if gross != in_play:
            postings.append(Posting(house, in_play - gross))
        description = f"Side bet won ({bet.kind})"
        category = Category.WIN
    else:
        win = 0
        postings = [Posting(escrow, -in_play), Posting(house, in_play)]
        description = f"Side bet lost ({bet.kind})"
        category = Category.BET
    await ledger.post(
        category, postings, reference=f"roulette-side-bet:{bet.id}", description=description
    )
    mark_bet(
        bet,
        BetStatus.WON if won else BetStatus.LOST,
        win,
        "eliminated" if target_eliminated else "survived",
        winnings_tax,
    )
    return GameResult(bet.user_id, RUSSIAN_ROULETTE, bet.win_amount - bet.amount, won)

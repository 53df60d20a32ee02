"""Service credentials, the session registry (/update) and game results (/terminate)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.cache import set_json
from gamehub.core.db import Phase, after_commit
from gamehub.core.events import publish_after_commit
from gamehub.core.money import parse_major, to_major
from gamehub.core.pagination import Window, next_cursor
from gamehub.core.runtime import Runtime
from gamehub.core.tokens import digest, new_secret
from gamehub.errors import ValidationError
from gamehub.matchmaking import schemas
from gamehub.matchmaking.errors import (
    EarningsContradictOutcome,
    GameAlreadyTerminated,
    GameBeingRegistered,
    GameEnded,
    GameNotRegistered,
    NotAPlayer,
    PayoutLimitExceeded,
    ReservedGameName,
    SettlementForbidden,
    TooManyPlayers,
    UnknownPlayers,
)
from gamehub.matchmaking.repository import MatchmakingRepository
from gamehub.models import ExternalGame, ServiceCredential, User
from gamehub.models.base import utcnow
from gamehub.models.ledger import AccountKind, Category
from gamehub.models.matchmaking import ExternalGameStatus
from gamehub.stats.hooks import GameResult, record_results
from gamehub.wallet.errors import InsufficientFunds
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.taxes import RULE_OF_ACCOUNT, Taxes, TaxRule, tax_postings

# The game slug of results a game server reports without naming its game.
DEFAULT_GAME = "external"

# What earnings each outcome may carry: a win may be worth nothing (a game played for
# no stake still counts a win), a loss never earns, a draw neither earns nor costs.
EARNINGS_RULE = "a win earns 0 or more, a loss 0 or less, a draw exactly 0"


class Scope(StrEnum):
    MATCHMAKING = "matchmaking"
    GAME_SERVER = "game-server"


def session_key(game_id: str) -> str:
    """The seed's cache key for a running game."""
    return f"game:{game_id}"


# Credentials (the CLI's operations)


def parse_scopes(raw: str) -> list[str]:
    scopes = sorted({part.strip() for part in raw.split(",") if part.strip()})
    known = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in known]
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of: {', '.join(sorted(known))}")
    return scopes


# Amounts above this are not exact in a JSON number of major units.
_LARGEST_PAYOUT_MINOR = 2**53 - 1


def parse_max_payout(raw: str) -> int | None:
    """Minor units from the CLI's ``--max-payout``: an amount of major units, 0 to forbid
    settling, or ``default`` to follow GAMEHUB_SERVICE_MAX_PAYOUT_MINOR (None)."""
    text = raw.strip().lower()
    if text == "default":
        return None
    try:
        if Decimal(text) == 0:
            return 0
    except ArithmeticError as exc:
        raise ValueError("must be an amount, 0, or default") from exc
    return parse_major(text, maximum_minor=_LARGEST_PAYOUT_MINOR)


def describe_max_payout(credential: ServiceCredential, runtime: Runtime) -> str:
    if credential.max_payout_minor is None:
        default = runtime.settings.service_max_payout_minor
        return f"max payout {to_major(default):.2f} (default)"
    return f"max payout {to_major(credential.max_payout_minor):.2f}"


async def create_credential(
    session: AsyncSession,
    runtime: Runtime,
    name: str,
    scopes: Sequence[str],
    max_payout_minor: int | None = None,
) -> str:
    """Store a new service's key as a digest and return the key (shown only once)."""
    key = new_secret(runtime.settings.service_key_prefix)
    credential = ServiceCredential(
        name=name,
        key_hash=digest(key),
        key_hint=key[: len(runtime.settings.service_key_prefix) + 4],
        scopes=",".join(scopes),
        max_payout_minor=max_payout_minor,
        created_at=utcnow(),
    )
    if not await MatchmakingRepository(session).add(credential):
        raise ValueError(f"a service named {name} already exists")
    return key


async def set_max_payout(session: AsyncSession, name: str, max_payout_minor: int | None) -> bool:
    """Change an active key's payout limit; it applies from the next /terminate."""
    credential = await MatchmakingRepository(session).credential_by_name(name)
    if credential is None or credential.revoked_at is not None:
        return False
    credential.max_payout_minor = max_payout_minor
    return True


async def revoke_credential(session: AsyncSession, name: str) -> bool:
    credential = await MatchmakingRepository(session).credential_by_name(name)
    if credential is None or credential.revoked_at is not None:
        return False
    credential.revoked_at = utcnow()
    return True


# Games


def _signed_minor(amount: Decimal, maximum: int) -> int:
    if amount == 0:
        return 0
    minor = parse_major(abs(amount), maximum_minor=maximum)
    return minor if amount > 0 else -minor


def _players(game: ExternalGame) -> list[int]:
    players: list[int] = json.loads(game.players)
    return players


def session_out(game: ExternalGame) -> schemas.SessionOut:
    return schemas.SessionOut(
        game_id=game.game_id,
        game=game.game,
        status=game.status,
        num_players=game.num_players,
        players=_players(game),
        updated_at=game.updated_at,
        expires_at=game.expires_at,
    )


def _agrees(outcome: str, earnings: int) -> bool:
    if outcome == "win":
        return earnings >= 0
    if outcome == "loss":
        return earnings <= 0
    return earnings == 0


@dataclass(frozen=True, slots=True)
class _Result:
    # Where the result stood in the request, for error messages.
    index: int
    user: User
    outcome: str
    earnings: int

    @property
    def won(self) -> bool | None:
        return {"win": True, "loss": False}.get(self.outcome)


@dataclass(frozen=True, slots=True)
class _Taxed:
    """What a settlement withheld from one player, in minor units."""

    stake: int = 0
    winnings: int = 0


def _settlement_reference(game_id: str, user_id: int) -> str:
    return f"terminate:{game_id}:{user_id}"


def _result_out(
    user_id: int, username: str, outcome: str, earnings: int, taxed: _Taxed | None
) -> schemas.ResultOut:
    taxed = taxed or _Taxed()
    return schemas.ResultOut(
        user_id,
        username,
        outcome,
        to_major(earnings),
        stake_tax=to_major(taxed.stake),
        winnings_tax=to_major(taxed.winnings),
    )


class Matchmaking:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.repo = MatchmakingRepository(session)

    async def update(self, data: schemas.UpdateIn) -> ExternalGame:
        """Register the session, or refresh it and push its expiry back."""
        game_id = str(data.game_id)
        if data.game is not None:
            await self._check_not_reserved(data.game, "game")
        players = await self._player_ids(data.players or [])
        if len(players) > data.num_players:
            raise TooManyPlayers("players: more players than num_players")
        now = utcnow()
        expires_at = now + timedelta(seconds=self.runtime.settings.game_session_ttl_seconds)
        for _ in range(2):
            game = await self.repo.game_for_update(game_id)
            if game is None:
                game = ExternalGame(
                    game_id=game_id,
                    game=data.game or DEFAULT_GAME,
                    status=ExternalGameStatus.ACTIVE.value,
                    created_at=now,
                )
                self._refresh(game, data.num_players, players, now, expires_at)
                if await self.repo.add(game):
                    break
                continue  # registered meanwhile by a concurrent /update: update that one
            if game.status != ExternalGameStatus.ACTIVE.value:
                raise GameEnded(f"Game {game_id} has ended")
            if data.game is not None:
                game.game = data.game
            kept = players if data.players is not None else _players(game)
            if len(kept) > data.num_players:
                raise TooManyPlayers("num_players: fewer than the players already listed")
            self._refresh(game, data.num_players, kept, now, expires_at)
            break
        else:
            raise GameBeingRegistered(f"Game {game_id} is being registered by another request")
        await self.session.flush()
        out = msgspec.to_builtins(session_out(game))
        ttl = self.runtime.settings.game_session_ttl_seconds

        async def cache() -> None:
            await set_json(self.runtime.cache, session_key(game_id), out, ttl)

        after_commit(self.session, cache, phase=Phase.STATE)
        publish_after_commit(
            self.session,
            self.runtime.events,
            "game_status",
            {
                "game_id": game_id,
                "game": game.game,
                "status": game.status,
                "players": game.num_players,
            },
            users=_players(game),
        )
        return game

    @staticmethod
    def _refresh(
        game: ExternalGame, num_players: int, players: list[int], now: datetime, expires: datetime
    ) -> None:
        game.num_players = num_players
        game.players = json.dumps(players)
        game.updated_at = now
        game.expires_at = expires

    async def _player_ids(self, players: Sequence[int | str]) -> list[int]:
        ids = [p for p in players if isinstance(p, int)]
        names = [p for p in players if isinstance(p, str)]
        by_id = await self.repo.users_by_id(ids)
        by_name = await self.repo.users_by_username(names)
        missing = [str(i) for i in ids if i not in by_id] + [
            n for n in names if n.lower() not in by_name
        ]
        if missing:
            raise UnknownPlayers(missing)
        resolved = [p if isinstance(p, int) else by_name[p.lower()].id for p in players]
        return list(dict.fromkeys(resolved))

    async def sessions(self, page: Window) -> schemas.SessionPage:
        games = await self.repo.active_games(
            utcnow(),
            before_id=page.after,
            since=page.since,
            until=page.until,
            limit=page.limit + 1,
        )
        shown = games[: page.limit]
        cursor = next_cursor(len(games), page.limit, shown[-1].id if shown else None)
        return schemas.SessionPage([session_out(g) for g in shown], cursor)

    async def terminate(
        self, data: schemas.TerminateIn, service: str, max_payout: int
    ) -> schemas.TerminateOut:
        """Record the game's results once; a repeat with the same results replays them.

        Only what matchmaking registered is settled: the game must have been registered
        by /update and each result must name one of the players it listed. With
        ``settle_wallets`` the winners' total is bounded by ``max_payout`` (the calling
        key's limit per game, in minor units) and no loser pays more than their balance.
        Every refusal leaves nothing written: the request's transaction rolls back.
        """
        game_id = str(data.game_id)
        results = await self._results(data.results or [])
        fingerprint = hashlib.sha256(
            json.dumps(
                [[r.user.id, r.outcome, r.earnings] for r in results] + [data.settle_wallets]
            ).encode()
        ).hexdigest()
        game = await self.repo.game_for_update(game_id)
        if game is None:
            raise GameNotRegistered(
                f"Game {game_id} was never registered: matchmaking registers games "
                "and their players with POST /update before they can be terminated"
            )
        if game.status == ExternalGameStatus.TERMINATED.value:
            if game.results_digest != fingerprint:
                raise GameAlreadyTerminated(
                    f"Game {game_id} was already terminated with other results"
                )
            return await self._replay(game)
        slug = data.game or game.game
        await self._check_not_reserved(slug, "game")
        registered = set(_players(game))
        for r in results:
            if r.user.id not in registered:
                raise NotAPlayer(
                    f"results[{r.index}]: {r.user.username} is not a player of game "
                    f"{game_id}: /update did not list them"
                )
        if data.settle_wallets:
            self._check_payout(results, max_payout)

        now = utcnow()
        game.game = slug
        game.status = ExternalGameStatus.TERMINATED.value
        game.updated_at = game.terminated_at = now
        game.terminated_by = service
        game.results_digest = fingerprint
        game.wallets_settled = data.settle_wallets
        taxed = self._withheld(results) if data.settle_wallets else {}
        out = [
            _result_out(r.user.id, r.user.username, r.outcome, r.earnings, taxed.get(r.user.id))
            for r in results
        ]
        # Registered before the results' own after-commit work, so that players hear
        # the game's end before their leaderboard_update.
        publish_after_commit(
            self.session,
            self.runtime.events,
            "game_result",
            {
                "game_id": game_id,
                "game": game.game,
                "status": game.status,
                "game_over": True,
                "results": msgspec.to_builtins(out),
            },
            users=dict.fromkeys([*_players(game), *(r.user.id for r in results)]),
        )

        async def forget_session() -> None:
            await self.runtime.cache.delete(session_key(game_id))

        after_commit(self.session, forget_session, phase=Phase.STATE)
        # Wallets before stats, the order the games lock them in: no deadlock between a
        # spin and a termination that share a player.
        if data.settle_wallets:
            await self._settle(game_id, results, taxed)
        reference = f"terminate:{game_id}"
        await record_results(
            self.session,
            self.runtime,
            [GameResult(r.user.id, game.game, r.earnings, r.won, reference) for r in results],
        )
        await self.session.flush()
        return self._out(game, out, replayed=False)

    async def _check_not_reserved(self, slug: str, field: str) -> None:
        if await self.repo.is_catalog_game(slug):
            raise ReservedGameName(
                f"{field}: {slug} is one of Game Hub's own games, whose stats and "
                "leaderboards only its own plays write; report results under your "
                "game's own name"
            )

    @staticmethod
    def _check_payout(results: Sequence[_Result], max_payout: int) -> None:
        if max_payout == 0:
            raise SettlementForbidden(
                "This service key may not settle wallets: its payout limit is 0 "
                "(gamehub service update NAME --max-payout AMOUNT)"
            )
        paid = sum(r.earnings for r in results if r.earnings > 0)
        if paid > max_payout:
            raise PayoutLimitExceeded(
                f"results: the winners would be paid {to_major(paid):.2f} in all, over "
                f"this service key's limit of {to_major(max_payout):.2f} per game"
            )

    async def _results(self, given: Sequence[schemas.ResultIn]) -> list[_Result]:
        for index, result in enumerate(given):
            if (result.user_id is None) == (result.username is None):
                raise ValidationError.of(f"results[{index}]", "give user_id or username, not both")
        by_id = await self.repo.users_by_id([r.user_id for r in given if r.user_id is not None])
        by_name = await self.repo.users_by_username(
            [r.username for r in given if r.username is not None]
        )
        maximum = self.runtime.settings.max_amount_minor
        resolved: dict[int, _Result] = {}
        for index, result in enumerate(given):
            user = (
                by_id.get(result.user_id)
                if result.user_id is not None
                else by_name.get((result.username or "").lower())
            )
            if user is None:
                raise ValidationError.of(f"results[{index}]", "no such user")
            if user.id in resolved:
                raise ValidationError.of(f"results[{index}]", f"{user.username} appears twice")
            try:
                earnings = _signed_minor(result.earnings, maximum)
            except ValueError as exc:
                raise ValidationError.of(f"results[{index}].earnings", str(exc)) from exc
            if not _agrees(result.outcome, earnings):
                raise EarningsContradictOutcome(
                    f"results[{index}]: a {result.outcome} cannot earn "
                    f"{to_major(earnings):.2f} ({EARNINGS_RULE})"
                )
            resolved[user.id] = _Result(index, user, result.outcome, earnings)
        return [resolved[i] for i in sorted(resolved)]

    def _withheld(self, results: Sequence[_Result]) -> dict[int, _Taxed]:
        """The taxes settling the results withholds, by user id (docs/operators.md,
        "Taxes"). Earnings are won minus staked, so a win's are all winnings beyond the
        stake; what a loss collects is the only stake this path moves, and bears the
        excise."""
        taxes = Taxes.of(self.runtime.settings)
        return {
            r.user.id: _Taxed(stake=taxes.on_stake(-r.earnings))
            if r.earnings < 0
            else _Taxed(winnings=taxes.on_winnings(r.earnings, 0))
            for r in results
        }

    async def _settle(
        self, game_id: str, results: Sequence[_Result], taxed: dict[int, _Taxed]
    ) -> None:
        """Pay winners from the house and collect losers' earnings into it, each with the
        tax ``taxed`` holds for them posted to its account. A loser who cannot pay fails
        the whole call (409), recording nothing: a balance never goes below zero and no
        loss is collected in part."""
        ledger = Ledger(self.session, self.runtime.events)
        currency = self.runtime.settings.currency
        house = await ledger.system_account(AccountKind.HOUSE, currency)
        for result in results:
            if result.earnings == 0:
                continue
            wallet = await ledger.wallet(result.user.id, currency)
            withheld = taxed[result.user.id]
            if result.earnings > 0:
                postings = [
                    Posting(house, -result.earnings),
                    Posting(wallet, result.earnings - withheld.winnings),
                    *await tax_postings(ledger, TaxRule.WINNINGS, withheld.winnings, currency),
                ]
            else:
                postings = [
                    Posting(wallet, result.earnings),
                    Posting(house, -result.earnings - withheld.stake),
                    *await tax_postings(ledger, TaxRule.STAKE, withheld.stake, currency),
                ]
            try:
                await ledger.post(
                    Category.WIN if result.earnings > 0 else Category.BET,
                    postings,
                    reference=_settlement_reference(game_id, result.user.id),
                    description=f"game {game_id} ({result.outcome})",
                )
            except InsufficientFunds as exc:
                raise InsufficientFunds(
                    f"results[{result.index}]: {result.user.username} cannot pay "
                    f"{to_major(-result.earnings):.2f}: their balance is lower; "
                    "nothing was settled"
                ) from exc

    async def _replay(self, game: ExternalGame) -> schemas.TerminateOut:
        rows = await self.repo.results_of(f"terminate:{game.game_id}")
        # The taxes as the ledger holds them: a rate changed since does not alter them.
        references = {
            _settlement_reference(game.game_id, row.user_id): row.user_id for row, _ in rows
        }
        taxed: dict[int, _Taxed] = {}
        for reference, kind, amount in await self.repo.taxes_posted(list(references)):
            held = taxed.get(references[reference], _Taxed())
            if RULE_OF_ACCOUNT[kind] == TaxRule.STAKE:
                taxed[references[reference]] = _Taxed(held.stake + amount, held.winnings)
            else:
                taxed[references[reference]] = _Taxed(held.stake, held.winnings + amount)
        out = [
            _result_out(row.user_id, name, row.outcome, row.earnings, taxed.get(row.user_id))
            for row, name in rows
        ]
        return self._out(game, out, replayed=True)

    @staticmethod
    def _out(
        game: ExternalGame, results: list[schemas.ResultOut], *, replayed: bool
    ) -> schemas.TerminateOut:
        return schemas.TerminateOut(
            message=f"Game {game.game_id} terminated successfully!",
            game_id=game.game_id,
            game=game.game,
            results=results,
            wallets_settled=game.wallets_settled,
            replayed=replayed,
        )

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

from gamehub.accounts.tokens import digest, new_secret
from gamehub.core.cache import set_json
from gamehub.core.db import after_commit
from gamehub.core.money import parse_major, to_major
from gamehub.core.runtime import Runtime
from gamehub.errors import Conflict, NotFound, ValidationFailed
from gamehub.matchmaking import schemas
from gamehub.matchmaking.repository import MatchmakingRepository
from gamehub.models import ExternalGame, ServiceCredential, User
from gamehub.models.base import utcnow
from gamehub.models.ledger import AccountKind, Category
from gamehub.models.matchmaking import ExternalGameStatus
from gamehub.realtime.bus import publish_after_commit
from gamehub.stats.hooks import GameResult, record_results
from gamehub.wallet.ledger import Ledger, Posting

# The game slug of results a game server reports without naming its game.
DEFAULT_GAME = "external"


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


async def create_credential(
    session: AsyncSession, runtime: Runtime, name: str, scopes: Sequence[str]
) -> str:
    """Store a new service's key as a digest and return the key (shown only once)."""
    key = new_secret(runtime.settings.service_key_prefix)
    credential = ServiceCredential(
        name=name,
        key_hash=digest(key),
        key_hint=key[: len(runtime.settings.service_key_prefix) + 4],
        scopes=",".join(scopes),
        created_at=utcnow(),
    )
    if not await MatchmakingRepository(session).add(credential):
        raise ValueError(f"a service named {name} already exists")
    return key


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


@dataclass(frozen=True, slots=True)
class _Result:
    user: User
    outcome: str
    earnings: int

    @property
    def won(self) -> bool | None:
        return {"win": True, "loss": False}.get(self.outcome)


class Matchmaking:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.repo = MatchmakingRepository(session)

    async def update(self, data: schemas.UpdateIn) -> ExternalGame:
        """Register the session, or refresh it and push its expiry back."""
        game_id = str(data.game_id)
        players = await self._player_ids(data.players or [])
        if len(players) > data.num_players:
            raise ValidationFailed("players: more players than num_players")
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
                raise Conflict(f"Game {game_id} has ended")
            if data.game is not None:
                game.game = data.game
            kept = players if data.players is not None else _players(game)
            if len(kept) > data.num_players:
                raise ValidationFailed("num_players: fewer than the players already listed")
            self._refresh(game, data.num_players, kept, now, expires_at)
            break
        else:
            raise Conflict(f"Game {game_id} is being registered by another request")
        await self.session.flush()
        out = msgspec.to_builtins(session_out(game))
        ttl = self.runtime.settings.game_session_ttl_seconds

        async def cache() -> None:
            await set_json(self.runtime.cache, session_key(game_id), out, ttl)

        after_commit(self.session, cache)
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
            raise ValidationFailed(f"players: no such users: {', '.join(missing)}")
        resolved = [p if isinstance(p, int) else by_name[p.lower()].id for p in players]
        return list(dict.fromkeys(resolved))

    async def sessions(self, limit: int, offset: int) -> list[schemas.SessionOut]:
        return [session_out(g) for g in await self.repo.active_games(utcnow(), limit, offset)]

    async def terminate(self, data: schemas.TerminateIn, service: str) -> schemas.TerminateOut:
        """Record the game's results once; a repeat with the same results replays them."""
        game_id = str(data.game_id)
        results = await self._results(data.results or [])
        fingerprint = hashlib.sha256(
            json.dumps(
                [[r.user.id, r.outcome, r.earnings] for r in results] + [data.settle_wallets]
            ).encode()
        ).hexdigest()
        now = utcnow()
        for _ in range(2):
            game = await self.repo.game_for_update(game_id)
            if game is None:
                if not results:
                    raise NotFound(f"Game {game_id} not found")
                game = ExternalGame(
                    game_id=game_id,
                    game=data.game or DEFAULT_GAME,
                    status=ExternalGameStatus.ACTIVE.value,
                    num_players=len(results),
                    players=json.dumps([r.user.id for r in results]),
                    created_at=now,
                    updated_at=now,
                    expires_at=now,
                )
                if await self.repo.add(game):
                    break
                continue  # created meanwhile by a concurrent call: lock that one
            if game.status == ExternalGameStatus.TERMINATED.value:
                if game.results_digest != fingerprint:
                    raise Conflict(f"Game {game_id} was already terminated with other results")
                return await self._replay(game)
            break
        else:
            raise Conflict(f"Game {game_id} is being terminated by another request")

        game.game = data.game or game.game
        game.status = ExternalGameStatus.TERMINATED.value
        game.updated_at = game.terminated_at = now
        game.terminated_by = service
        game.results_digest = fingerprint
        game.wallets_settled = data.settle_wallets
        out = [
            schemas.ResultOut(r.user.id, r.user.username, r.outcome, to_major(r.earnings))
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

        after_commit(self.session, forget_session)
        # Wallets before stats, the order the games lock them in: no deadlock between a
        # spin and a termination that share a player.
        if data.settle_wallets:
            await self._settle(game_id, results)
        reference = f"terminate:{game_id}"
        await record_results(
            self.session,
            self.runtime,
            [GameResult(r.user.id, game.game, r.earnings, r.won, reference) for r in results],
        )
        await self.session.flush()
        return self._out(game, out, replayed=False)

    async def _results(self, given: Sequence[schemas.ResultIn]) -> list[_Result]:
        for index, result in enumerate(given):
            if (result.user_id is None) == (result.username is None):
                raise ValidationFailed(f"results[{index}]: give user_id or username, not both")
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
                raise ValidationFailed(f"results[{index}]: no such user")
            if user.id in resolved:
                raise ValidationFailed(f"results[{index}]: {user.username} appears twice")
            try:
                earnings = _signed_minor(result.earnings, maximum)
            except ValueError as exc:
                raise ValidationFailed(f"results[{index}].earnings: {exc}") from exc
            resolved[user.id] = _Result(user, result.outcome, earnings)
        return [resolved[i] for i in sorted(resolved)]

    async def _settle(self, game_id: str, results: Sequence[_Result]) -> None:
        """Pay winners from the house and collect losers' earnings into it. A loser who
        cannot pay fails the whole call (409), recording nothing."""
        ledger = Ledger(self.session)
        currency = self.runtime.settings.currency
        house = await ledger.system_account(AccountKind.HOUSE, currency)
        for result in results:
            if result.earnings == 0:
                continue
            wallet = await ledger.wallet(result.user.id, currency)
            await ledger.post(
                Category.WIN if result.earnings > 0 else Category.BET,
                [Posting(wallet, result.earnings), Posting(house, -result.earnings)],
                reference=f"terminate:{game_id}:{result.user.id}",
                description=f"game {game_id} ({result.outcome})",
            )

    async def _replay(self, game: ExternalGame) -> schemas.TerminateOut:
        rows = await self.repo.results_of(f"terminate:{game.game_id}")
        out = [
            schemas.ResultOut(row.user_id, name, row.outcome, to_major(row.earnings))
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

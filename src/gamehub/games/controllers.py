"""Game routes: the catalog, Spin and Win, Russian Roulette, and provable fairness."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Literal, TypeAlias

from litestar import Controller, Response, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from gamehub.accounts.deps import CurrentIdentity, provide_identity
from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
from gamehub.core.idempotency import IDEMPOTENCY, IdempotencyDep, idempotency_guard
from gamehub.core.money import amount_field, to_major
from gamehub.core.openapi import PLAYER
from gamehub.core.pagination import NEXT_CURSOR_HEADERS, Cursor, Limit, page_response, window
from gamehub.core.params import INT64_MAX, BigIdPath, IdPath
from gamehub.core.ratelimit import RateLimited
from gamehub.core.runtime import Runtime, RuntimeDep
from gamehub.errors import WITH_BODY, DatabaseBusy, ValidationError, error_responses
from gamehub.games import fairness, schemas
from gamehub.games.catalog import BPS
from gamehub.games.errors import (
    BetNotFound,
    GameClosed,
    GameNotFound,
    RewardTableNotFound,
    RoomIdRequired,
    RoomSeedNotRevealed,
    SeedHashMismatch,
    SeedStillSecret,
    StakeOutOfRange,
)
from gamehub.games.roulette.errors import (
    BetNotOpen,
    BettingClosed,
    GameNotInProgress,
    NotARoomPlayer,
    NotInRoom,
    NotPlayedInRooms,
    NotYourTurn,
    RoomNotFound,
    RoomNotWaiting,
    RoomSizeNotAllowed,
    SeatTaken,
    SideBetNotFound,
    TargetNotInRoom,
)
from gamehub.games.roulette.service import Roulette
from gamehub.games.service import GameService, Listed, RoomView
from gamehub.models import FairnessSeed, RewardTable
from gamehub.models.games import RoomStatus
from gamehub.protection.errors import GATES
from gamehub.wallet.errors import InsufficientFunds

# The rooms a lobby shows: those that can still be joined, and those worth watching.
LOBBY_STATUSES = (RoomStatus.WAITING.value, RoomStatus.PLAYING.value)
RoomStatusFilter: TypeAlias = Annotated[
    Literal["waiting", "playing"] | None,
    QueryParameter(description="Only rooms waiting for players, or only games being played"),
]


def _minor(value: Decimal, field: str, runtime: Runtime) -> int:
    return amount_field(value, field, maximum_minor=runtime.settings.max_amount_minor)


def _game_out(listed: Listed) -> schemas.GameOut:
    game, rtp = listed.game, listed.rtp
    return schemas.GameOut(
        slug=game.slug,
        name=game.name,
        description=game.description,
        rules=game.rules,
        min_bet=to_major(game.min_bet),
        max_bet=to_major(game.max_bet),
        is_active=game.is_active,
        rtp=float(rtp),
        house_edge=float(1 - rtp),
        rtp_exact=str(rtp),
        reward_table=listed.reward_table,
        reward_table_version=listed.reward_table_version,
    )


def reward_table_out(row: RewardTable) -> schemas.RewardTableOut:
    table = fairness.parse_reward_table(row.table)
    rtp = fairness.theoretical_rtp(table)
    return schemas.RewardTableOut(
        version=row.version,
        table=table.public(),
        rtp=float(rtp),
        rtp_exact=str(rtp),
        created_at=row.created_at,
    )


def _room_id(data: schemas.RoomIn) -> int:
    room_id = data.roulette_id if data.roulette_id is not None else data.game_id
    if room_id is None:
        raise RoomIdRequired()
    return room_id


class GamesController(Controller):
    path = "/games"
    tags = ["games"]  # noqa: RUF012 - Litestar reads these as class attributes

    @get(
        "/",
        summary="The game catalog",
        operation_id="list_games",
        responses=error_responses(),
    )
    async def catalog(self, db_session: DbSession, runtime: RuntimeDep) -> list[schemas.GameOut]:
        return [_game_out(g) for g in await GameService(db_session, runtime).catalog()]

    @get(
        "/{slug:str}",
        summary="One game: rules, limits, return to player",
        operation_id="get_game",
        responses=error_responses(GameNotFound),
    )
    async def game(
        self, slug: FromPath[str], db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.GameOut:
        return _game_out(await GameService(db_session, runtime).game(slug))

    @get(
        "/{slug:str}/reward-tables/{version:int}",
        summary="One version of a game's reward table, as the bets played with it name it",
        operation_id="get_reward_table",
        responses=error_responses(ValidationError, GameNotFound, RewardTableNotFound),
    )
    async def reward_table(
        self, slug: FromPath[str], version: IdPath, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.RewardTableOut:
        return reward_table_out(await GameService(db_session, runtime).reward_table(slug, version))

    @get(
        "/roulette",
        summary="The roulette lobby: rooms waiting for players or being played, newest first",
        operation_id="list_roulette_rooms",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(ValidationError),
    )
    async def lobby(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        status: RoomStatusFilter = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.RoomPage]:
        statuses = [status] if status is not None else list(LOBBY_STATUSES)
        views, cursor_out = await GameService(db_session, runtime).lobby(
            statuses, window(limit, cursor, cursor_max=INT64_MAX)
        )
        return page_response(
            schemas.RoomPage([_room_out(v) for v in views], cursor_out), cursor_out
        )

    @get(
        "/roulette/{roulette_id:int}",
        summary="A roulette room, for anyone to watch",
        operation_id="get_roulette_room",
        responses=error_responses(ValidationError, RoomNotFound),
    )
    async def room(
        self, roulette_id: IdPath, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.RoomOut:
        return _room_out(await GameService(db_session, runtime).room(roulette_id))


class PlayController(Controller):
    path = "/games"
    tags = ["games"]  # noqa: RUF012 - Litestar reads these as class attributes
    security = PLAYER
    dependencies = {  # noqa: RUF012 - Litestar's API
        "identity": Provide(provide_identity),
        "idempotency": idempotency_guard(),
    }

    @post(
        "/spin-and-win/play",
        operation_id="play_spin",
        status_code=HTTP_200_OK,
        summary="Stake and spin; honours Idempotency-Key",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            GameNotFound,
            GameClosed,
            StakeOutOfRange,
            InsufficientFunds,
            *GATES,
            RateLimited,
        ),
    )
    async def spin(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.SpinIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.SpinOut:
        stake = _minor(data.bet_amount, "bet_amount", runtime)
        await runtime.rate_limits.hit("spin_user", identity.user_id)
        played = await GameService(db_session, runtime).spin(identity.user_id, stake)
        return await idempotency.keep(
            schemas.SpinOut(
                bet_id=played.bet_id,
                result=played.result,
                multiplier=played.multiplier,
                win_amount=to_major(played.win_amount),
                new_balance=to_major(played.new_balance),
                fairness=schemas.FairnessRef(
                    played.server_seed_hash, played.client_seed, played.nonce
                ),
                stake_tax=to_major(played.stake_tax),
                winnings_tax=to_major(played.winnings_tax),
                reward_table_version=played.reward_table_version,
            )
        )

    @post(
        "/join",
        status_code=HTTP_200_OK,
        summary="Take a seat in a roulette room",
        operation_id="join_roulette",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            RoomSizeNotAllowed,
            NotPlayedInRooms,
            SeatTaken,
            DatabaseBusy,
            GameNotFound,
            GameClosed,
            StakeOutOfRange,
            InsufficientFunds,
            *GATES,
            RateLimited,
        ),
    )
    async def join(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.JoinIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.JoinOut:
        stake = None if data.stake is None else _minor(data.stake, "stake", runtime)
        await runtime.rate_limits.hit("join_user", identity.user_id)
        joined = await Roulette(db_session, runtime).join(
            identity.user_id, stake, data.max_players, data.game_id
        )
        room = joined.room
        return await idempotency.keep(
            schemas.JoinOut(
                roulette_id=room.id,
                game_id=room.id,
                status=room.status,
                players=joined.players,
                max_players=room.max_players,
                seat=joined.seat,
                stake=to_major(room.stake),
                seed_hash=room.seed_hash,
                stake_tax=to_major(joined.stake_tax),
                rake_bps=room.rake_bps,
            )
        )

    @post(
        "/pull-trigger",
        status_code=HTTP_200_OK,
        summary="Pull the trigger on your turn",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            RoomIdRequired,
            RoomNotFound,
            NotARoomPlayer,
            GameNotInProgress,
            NotYourTurn,
            DatabaseBusy,
            RateLimited,
        ),
    )
    async def pull_trigger(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.RoomIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.PullOut:
        await runtime.rate_limits.hit("pull_trigger_user", identity.user_id)
        pulled = await Roulette(db_session, runtime).pull(identity.user_id, _room_id(data))
        return await idempotency.keep(
            schemas.PullOut(
                roulette_id=pulled.room.id,
                chamber=pulled.chamber,
                is_hit=pulled.is_hit,
                next_player=pulled.next_player,
                game_over=pulled.game_over,
                payout=None if pulled.payout is None else to_major(pulled.payout),
                new_balance=None if pulled.new_balance is None else to_major(pulled.new_balance),
            )
        )

    @post(
        "/leave",
        status_code=HTTP_200_OK,
        summary="Leave: refund before the start, forfeit after",
        operation_id="leave_roulette",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            RoomIdRequired,
            RoomNotFound,
            NotInRoom,
            RoomNotWaiting,
            DatabaseBusy,
        ),
    )
    async def leave(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.RoomIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.LeaveOut:
        left = await Roulette(db_session, runtime).leave(identity.user_id, _room_id(data))
        return await idempotency.keep(schemas.LeaveOut(**left))

    @post(
        "/place-bet",
        status_code=HTTP_200_OK,
        summary="Bet on a player's survival or elimination; honours Idempotency-Key",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            RoomNotFound,
            BettingClosed,
            TargetNotInRoom,
            DatabaseBusy,
            GameNotFound,
            GameClosed,
            StakeOutOfRange,
            InsufficientFunds,
            *GATES,
            RateLimited,
        ),
    )
    async def place_bet(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.PlaceBetIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.PlaceBetOut:
        amount = _minor(data.bet_amount, "bet_amount", runtime)
        await runtime.rate_limits.hit("place_bet_user", identity.user_id)
        placed = await Roulette(db_session, runtime).place_bet(
            identity.user_id, data.roulette_id, data.player_id, data.bet_type, amount
        )
        return await idempotency.keep(
            schemas.PlaceBetOut(
                status="success",
                bet_id=placed.bet_id,
                bet_type=data.bet_type,
                player_id=data.player_id,
                bet_amount=to_major(amount),
                odds=float(placed.multiplier),
                odds_exact=str(placed.multiplier),
                potential_win=to_major(placed.potential_win),
                new_balance=to_major(placed.new_balance),
                stake_tax=to_major(placed.stake_tax),
            )
        )

    @post(
        "/cancel-bet",
        status_code=HTTP_200_OK,
        summary="Take back a side bet while its room waits; honours Idempotency-Key",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            SideBetNotFound,
            RoomNotFound,
            BetNotOpen,
            RoomNotWaiting,
            DatabaseBusy,
        ),
    )
    async def cancel_bet(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.CancelBetIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.CancelBetOut:
        cancelled = await Roulette(db_session, runtime).cancel_bet(identity.user_id, data.bet_id)
        bet = cancelled.bet
        assert bet.room_id is not None
        return await idempotency.keep(
            schemas.CancelBetOut(
                status="success",
                bet_id=bet.id,
                roulette_id=bet.room_id,
                refunded=to_major(bet.amount),
                new_balance=to_major(cancelled.new_balance),
            )
        )


def _room_out(view: RoomView) -> schemas.RoomOut:
    room, names, over = view.room, view.usernames, view.room.is_over
    return schemas.RoomOut(
        roulette_id=room.id,
        status=room.status,
        stake=to_major(room.stake),
        max_players=room.max_players,
        players=[
            schemas.PlayerOut(s.user_id, names.get(s.user_id, ""), s.seat, s.status)
            for s in view.seats
        ],
        next_player=view.next_player,
        turn_deadline=room.turn_deadline,
        chambers_pulled=room.chambers_pulled,
        pot=to_major(view.pot),
        rake_bps=room.rake_bps,
        rake_exact=str(Fraction(room.rake_bps, BPS)),
        bets_open=room.bets_open,
        side_bets=[
            schemas.SideBetOut(
                bet_id=b.id,
                user_id=b.user_id,
                player_id=b.target_user_id,
                bet_type=b.kind,
                bet_amount=to_major(b.amount),
                odds=None if b.odds is None else float(Fraction(b.odds)),
                odds_exact=b.odds,
                status=b.status,
                win_amount=to_major(b.win_amount),
            )
            for b in view.side_bets
        ],
        seed_hash=room.seed_hash,
        seed=room.seed if over else None,
        bullet_chamber=fairness.bullet_chamber(room.seed) if over else None,
        eliminated_player=room.eliminated_user_id,
        end_reason=room.end_reason,
        created_at=room.created_at,
        started_at=room.started_at,
        ended_at=room.ended_at,
    )


def _revealed(seed: FairnessSeed | None) -> schemas.RevealedSeed | None:
    if seed is None:
        return None
    return schemas.RevealedSeed(
        server_seed=seed.server_seed,
        server_seed_hash=seed.server_seed_hash,
        client_seed=seed.client_seed,
        next_nonce=seed.next_nonce,
    )


class FairnessController(Controller):
    path = "/fairness"
    tags = ["fairness"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"identity": Provide(provide_identity)}  # noqa: RUF012 - Litestar's API
    security = PLAYER

    @get(
        "/",
        summary="Your seed commitment, client seed and next nonce",
        operation_id="get_fairness",
        responses=error_responses(*IDENTITY),
    )
    async def current(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.FairnessOut:
        state = await GameService(db_session, runtime).fairness(identity.user_id)
        seed = state.current
        return schemas.FairnessOut(
            server_seed_hash=seed.server_seed_hash,
            client_seed=seed.client_seed,
            nonce=seed.next_nonce,
            previous=_revealed(state.previous),
        )

    @put(
        "/client-seed",
        summary="Choose your client seed",
        operation_id="set_client_seed",
        responses=error_responses(*IDENTITY, *WITH_BODY),
    )
    async def client_seed(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.ClientSeedIn],
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.FairnessRef:
        games = GameService(db_session, runtime)
        seed = await games.set_client_seed(identity.user_id, data.client_seed)
        return schemas.FairnessRef(seed.server_seed_hash, seed.client_seed, seed.next_nonce)

    @post(
        "/rotate",
        status_code=HTTP_200_OK,
        summary="Reveal your server seed; commit a new one",
        operation_id="rotate_seed",
        responses=error_responses(*IDENTITY),
    )
    async def rotate(
        self, identity: CurrentIdentity, db_session: DbSession, runtime: RuntimeDep
    ) -> schemas.RotateOut:
        old, new = await GameService(db_session, runtime).rotate_seed(identity.user_id)
        revealed = _revealed(old)
        assert revealed is not None
        return schemas.RotateOut(
            revealed=revealed,
            current=schemas.FairnessRef(new.server_seed_hash, new.client_seed, new.next_nonce),
        )

    @get(
        "/verify/{bet_id:int}",
        summary="Recompute one of your bets from its revealed seed",
        operation_id="verify_bet",
        responses=error_responses(
            *IDENTITY,
            ValidationError,
            BetNotFound,
            SeedStillSecret,
            RoomSeedNotRevealed,
            SeedHashMismatch,
        ),
    )
    async def verify(
        self,
        bet_id: BigIdPath,
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.VerifyOut:
        return await GameService(db_session, runtime).verify(identity.user_id, bet_id)

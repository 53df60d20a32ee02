"""Every table, imported here so that ``Base.metadata`` knows them all."""

from gamehub.models.admin import AuditLog, PlayerNote, UserRole
from gamehub.models.base import Base
from gamehub.models.games import (
    Bet,
    FairnessSeed,
    Game,
    GameSession,
    RewardTable,
    RouletteRoom,
    RouletteSeat,
)
from gamehub.models.install_secret import InstallSecret
from gamehub.models.job_lease import JobLease
from gamehub.models.leaderboard import LeaderboardSnapshot, PlayerResult
from gamehub.models.ledger import Account, LedgerEntry, LedgerTransaction
from gamehub.models.login_failure import LoginFailure
from gamehub.models.matchmaking import ExternalGame, ServiceCredential
from gamehub.models.payments import Deposit, IdempotencyKey, MpesaCallback, Withdrawal
from gamehub.models.profile import UserProfile
from gamehub.models.protection import PlayerLimit, PlayerPhone, PlayerProtection, SharedPhone
from gamehub.models.refresh_token import RefreshToken
from gamehub.models.stats import Stats
from gamehub.models.user import User
from gamehub.models.verification import VerificationToken

__all__ = [
    "Account",
    "AuditLog",
    "Base",
    "Bet",
    "Deposit",
    "ExternalGame",
    "FairnessSeed",
    "Game",
    "GameSession",
    "IdempotencyKey",
    "InstallSecret",
    "JobLease",
    "LeaderboardSnapshot",
    "LedgerEntry",
    "LedgerTransaction",
    "LoginFailure",
    "MpesaCallback",
    "PlayerLimit",
    "PlayerNote",
    "PlayerPhone",
    "PlayerProtection",
    "PlayerResult",
    "RefreshToken",
    "RewardTable",
    "RouletteRoom",
    "RouletteSeat",
    "ServiceCredential",
    "SharedPhone",
    "Stats",
    "User",
    "UserProfile",
    "UserRole",
    "VerificationToken",
    "Withdrawal",
]

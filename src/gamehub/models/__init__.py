"""Every table, imported here so that ``Base.metadata`` knows them all."""

from gamehub.models.base import Base
from gamehub.models.profile import UserProfile
from gamehub.models.refresh_token import RefreshToken
from gamehub.models.stats import Stats
from gamehub.models.user import User
from gamehub.models.verification import VerificationToken
from gamehub.models.wallet import Wallet

__all__ = ["Base", "RefreshToken", "Stats", "User", "UserProfile", "VerificationToken", "Wallet"]

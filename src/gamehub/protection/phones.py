"""Phone ownership: which numbers an account may withdraw to, and who may register one.

A number is proven for an account when a deposit into that account from it completed
(M-Pesa asked the phone's owner for their PIN) or when an operator verified it. With
``withdraw_to_proven_phones_only`` a withdrawal goes to proven numbers only; with
``one_account_per_phone`` a number registers one account unless an operator allowed it
to be shared. Numbers are compared in M-Pesa's form (``2547…``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.clock import Clock
from gamehub.core.mpesa.client import normalise_msisdn
from gamehub.models.protection import PhoneProof, PlayerPhone, SharedPhone
from gamehub.protection.errors import PhoneInUse, PhoneNotProven
from gamehub.protection.repository import ProtectionRepository
from gamehub.settings import Settings


def _number(phone: str) -> str:
    """M-Pesa's form of a Kenyan number; any other number as its digits."""
    try:
        return normalise_msisdn(phone)
    except ValueError:
        return "".join(ch for ch in phone if ch.isdigit())


class Phones:
    def __init__(self, session: AsyncSession, settings: Settings, clock: Clock) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock
        self.repo = ProtectionRepository(session)

    async def claim_at_registration(self, user_id: int, phone: str) -> None:
        """Record the number the account registers with; refuse one another account
        holds, unless an operator allowed it to be shared."""
        number = _number(phone)
        if (
            self.settings.one_account_per_phone
            and await self.repo.phone_held_by_another(user_id, number)
            and await self.session.get(SharedPhone, number) is None
        ):
            raise PhoneInUse()
        row = await self.repo.player_phone(user_id, number)
        if row is None:
            self.session.add(PlayerPhone(user_id=user_id, phone=number, registered=True))
        else:
            row.registered = True
        await self.session.flush()

    async def prove(self, user_id: int, phone: str, proof: PhoneProof) -> None:
        number = _number(phone)
        row = await self.repo.player_phone(user_id, number)
        if row is None:
            row = PlayerPhone(user_id=user_id, phone=number, registered=False)
            self.session.add(row)
        if row.proven_at is None:
            row.proven_by, row.proven_at = proof.value, self.clock.now()
        await self.session.flush()

    async def check_withdrawal(self, user_id: int, phone: str) -> None:
        if not self.settings.withdraw_to_proven_phones_only:
            return
        row = await self.repo.player_phone(user_id, _number(phone))
        if row is None or row.proven_at is None:
            raise PhoneNotProven(phone)

    async def allow_shared(self, phone: str, actor: str) -> None:
        number = _number(phone)
        if await self.session.get(SharedPhone, number) is None:
            self.session.add(SharedPhone(phone=number, allowed_by=actor[:100]))
            await self.session.flush()

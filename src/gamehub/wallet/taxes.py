"""Taxes and duties: what each rule takes from a movement, and where it is posted.

Four rules, each a rate in basis points and each off at 0 (``GAMEHUB_TAX_*_BPS``):

- stake: excise withheld from the amount staked; what is in play is the stake less it;
- winnings: withheld from a payout less the stake in play (nothing when a bet returns
  no more than was in play);
- deposit: withheld from the amount deposited; the wallet is credited the rest;
- withdrawal: charged on top of the amount sent, so M-Pesa still sends whole shillings.

Every tax rounds down to the minor unit (a tax under one cent is nothing), and is a
posting to its rule's liability account in the ledger transaction of the movement it
applies to, so the two commit or fail together. docs/operators.md, "Taxes", is the
operator's account of the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gamehub.models.ledger import TAX_KINDS, AccountKind
from gamehub.settings import Settings
from gamehub.wallet.ledger import Ledger, Posting

BPS = 10_000


class TaxRule(StrEnum):
    STAKE = "stake"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    WINNINGS = "winnings"


ACCOUNTS: dict[TaxRule, AccountKind] = {
    TaxRule.STAKE: AccountKind.TAX_STAKE,
    TaxRule.DEPOSIT: AccountKind.TAX_DEPOSIT,
    TaxRule.WITHDRAWAL: AccountKind.TAX_WITHDRAWAL,
    TaxRule.WINNINGS: AccountKind.TAX_WINNINGS,
}
RULE_OF_ACCOUNT: dict[str, TaxRule] = {kind.value: rule for rule, kind in ACCOUNTS.items()}
TAX_ACCOUNT_KINDS = tuple(sorted(TAX_KINDS))


def tax_at(amount: int, bps: int) -> int:
    """``bps`` of ``amount`` minor units, rounded down to the minor unit."""
    return max(amount, 0) * bps // BPS


@dataclass(frozen=True, slots=True)
class Taxes:
    stake_bps: int = 0
    deposit_bps: int = 0
    withdrawal_bps: int = 0
    winnings_bps: int = 0

    @classmethod
    def of(cls, settings: Settings) -> Taxes:
        return cls(
            stake_bps=settings.tax_stake_bps,
            deposit_bps=settings.tax_deposit_bps,
            withdrawal_bps=settings.tax_withdrawal_bps,
            winnings_bps=settings.tax_winnings_bps,
        )

    @property
    def on_play(self) -> bool:
        """Whether a bet's stake or its winnings are taxed."""
        return bool(self.stake_bps or self.winnings_bps)

    def on_stake(self, stake: int) -> int:
        return tax_at(stake, self.stake_bps)

    def on_winnings(self, payout: int, in_play: int) -> int:
        return tax_at(payout - in_play, self.winnings_bps)

    def on_deposit(self, amount: int) -> int:
        return tax_at(amount, self.deposit_bps)

    def on_withdrawal(self, amount: int) -> int:
        return tax_at(amount, self.withdrawal_bps)


async def tax_postings(ledger: Ledger, rule: TaxRule, amount: int, currency: str) -> list[Posting]:
    """The posting of ``amount`` (negative: given back) to the rule's liability account,
    to join the movement's own; none for no tax, as a ledger entry is never zero."""
    if amount == 0:
        return []
    return [Posting(await ledger.system_account(ACCOUNTS[rule], currency), amount)]

"""taxes: what each bet, deposit and withdrawal had withheld or charged

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Existing rows were untaxed: a server default of 0 says so, and keeps the hand-built
# inserts of the spin path, which name their columns, valid.
_COLUMNS = {
    "bets": ("stake_tax", "winnings_tax"),
    "deposits": ("tax",),
    "withdrawals": ("tax",),
}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(
                    sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
                )


def downgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)

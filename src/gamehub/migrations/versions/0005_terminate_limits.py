"""a per-key limit on what one game may pay out through /terminate

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing keys get NULL: they follow GAMEHUB_SERVICE_MAX_PAYOUT_MINOR.
    with op.batch_alter_table("service_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_payout_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_credentials", schema=None) as batch_op:
        batch_op.drop_column("max_payout_minor")

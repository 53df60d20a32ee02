"""each roulette room keeps the rake in force when it opened

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The default only fills the rows there are; they then take the game's rake.
    with op.batch_alter_table("roulette_rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rake_bps", sa.Integer(), server_default="0", nullable=False))
    games = sa.table("games", sa.column("slug", sa.String), sa.column("rake_bps", sa.Integer))
    rooms = sa.table("roulette_rooms", sa.column("rake_bps", sa.Integer))
    # Rooms already open settle at the rake that was in force until now: the game's.
    current = (
        sa.select(games.c.rake_bps).where(games.c.slug == "russian-roulette").scalar_subquery()
    )
    op.execute(rooms.update().values(rake_bps=sa.func.coalesce(current, 0)))
    # From here on every room names its rake when it opens: no default to fall back on.
    with op.batch_alter_table("roulette_rooms", schema=None) as batch_op:
        batch_op.alter_column("rake_bps", existing_type=sa.Integer(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("roulette_rooms", schema=None) as batch_op:
        batch_op.drop_column("rake_bps")

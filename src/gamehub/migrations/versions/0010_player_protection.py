"""player protection: limits, time-outs, self-exclusion, reality checks, KYC status, phones

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gamehub.core.mpesa.client import normalise_msisdn
from gamehub.models.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "player_protection",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("timeout_until", UTCDateTime(), nullable=True),
        sa.Column("excluded_until", UTCDateTime(), nullable=True),
        sa.Column("excluded_permanent", sa.Boolean(), nullable=False),
        sa.Column("reality_check_minutes", sa.Integer(), nullable=True),
        sa.Column("session_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_bet_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_at", UTCDateTime(), nullable=True),
        sa.Column("kyc_status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_player_protection_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_player_protection")),
    )
    op.create_table(
        "player_limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("pending_amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_from", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_player_limits_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_player_limits")),
        sa.UniqueConstraint(
            "user_id", "kind", "period", name=op.f("uq_player_limits_user_id_kind_period")
        ),
    )

    op.create_table(
        "player_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("registered", sa.Boolean(), nullable=False),
        sa.Column("proven_by", sa.String(length=16), nullable=True),
        sa.Column("proven_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_player_phones_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_player_phones")),
        sa.UniqueConstraint("user_id", "phone", name=op.f("uq_player_phones_user_id_phone")),
    )
    op.create_index("ix_player_phones_phone", "player_phones", ["phone"], unique=False)
    op.create_table(
        "shared_phones",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("allowed_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_shared_phones")),
    )
    # Numbers already on record keep their accounts: each registered one is claimed, and
    # one several accounts share is marked shared, so nothing registered before changes.
    connection = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("phone", sa.String(20)))
    phones = sa.table(
        "player_phones",
        sa.column("user_id", sa.Integer()),
        sa.column("phone", sa.String(20)),
        sa.column("registered", sa.Boolean()),
    )
    shared = sa.table(
        "shared_phones",
        sa.column("phone", sa.String(20)),
        sa.column("allowed_by", sa.String(100)),
        sa.column("created_at", UTCDateTime()),
    )
    holders: dict[str, set[int]] = {}
    for user_id, phone in connection.execute(
        sa.select(users.c.id, users.c.phone).where(users.c.phone.is_not(None))
    ):
        holders.setdefault(_number(phone), set()).add(user_id)
    for number, ids in holders.items():
        for user_id in ids:
            connection.execute(
                phones.insert().values(user_id=user_id, phone=number, registered=True)
            )
        if len(ids) > 1:
            connection.execute(
                shared.insert().values(
                    phone=number, allowed_by="migration 0010", created_at=datetime.now(UTC)
                )
            )


def _number(phone: str) -> str:
    try:
        return normalise_msisdn(phone)
    except ValueError:
        return "".join(ch for ch in phone if ch.isdigit())


def downgrade() -> None:
    op.drop_table("shared_phones")
    op.drop_index("ix_player_phones_phone", table_name="player_phones")
    op.drop_table("player_phones")
    op.drop_table("player_limits")
    op.drop_table("player_protection")

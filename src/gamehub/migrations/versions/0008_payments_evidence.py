"""payments: callbacks as evidence, per-payment tokens, review states, idempotent resources

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mpesa_callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("url_token", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_constraint("uq_mpesa_callbacks_kind_external_id", type_="unique")
    # Bodies stored before this revision get their digest, so that a replay of one is still
    # recognised as a replay.
    connection = op.get_bind()
    callbacks = sa.table(
        "mpesa_callbacks",
        sa.column("id", sa.BigInteger()),
        sa.column("payload", sa.Text()),
        sa.column("payload_sha256", sa.String(64)),
    )
    for row_id, payload in connection.execute(sa.select(callbacks.c.id, callbacks.c.payload)):
        digest = hashlib.sha256(payload.encode()).hexdigest()
        connection.execute(
            callbacks.update().where(callbacks.c.id == row_id).values(payload_sha256=digest)
        )
    with op.batch_alter_table("mpesa_callbacks", schema=None) as batch_op:
        batch_op.alter_column("payload_sha256", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_mpesa_callbacks_kind_external_id_payload_sha256"),
            ["kind", "external_id", "payload_sha256"],
        )
        batch_op.create_index(
            "ix_mpesa_callbacks_flagged_received_at", ["flagged", "received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mpesa_callbacks_url_token"), ["url_token"], unique=False
        )

    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_deposits_callback_token"), ["callback_token"]
        )

    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("status_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_withdrawals_callback_token"), ["callback_token"]
        )

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource_kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("resource_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("resource_id")
        batch_op.drop_column("resource_kind")

    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_withdrawals_callback_token"), type_="unique")
        batch_op.drop_column("status_token")
        batch_op.drop_column("callback_token")

    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_deposits_callback_token"), type_="unique")
        batch_op.drop_column("callback_token")

    # Only one body per (kind, external id) fits the old constraint: keep the first.
    connection = op.get_bind()
    callbacks = sa.table(
        "mpesa_callbacks",
        sa.column("id", sa.BigInteger()),
        sa.column("kind", sa.String(32)),
        sa.column("external_id", sa.String(64)),
    )
    firsts = {
        row[0]
        for row in connection.execute(
            sa.select(sa.func.min(callbacks.c.id)).group_by(
                callbacks.c.kind, callbacks.c.external_id
            )
        )
    }
    for (row_id,) in connection.execute(sa.select(callbacks.c.id)).all():
        if row_id not in firsts:
            connection.execute(callbacks.delete().where(callbacks.c.id == row_id))
    with op.batch_alter_table("mpesa_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mpesa_callbacks_url_token"))
        batch_op.drop_index("ix_mpesa_callbacks_flagged_received_at")
        batch_op.drop_constraint(
            batch_op.f("uq_mpesa_callbacks_kind_external_id_payload_sha256"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_mpesa_callbacks_kind_external_id", ["kind", "external_id"]
        )
        batch_op.drop_column("flagged")
        batch_op.drop_column("url_token")
        batch_op.drop_column("payload_sha256")

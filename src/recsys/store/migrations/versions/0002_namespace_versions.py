"""Change counters on namespaces, polled by serving processes to refresh signal snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTERS = ("catalog_version", "users_version", "events_version", "reset_version")


def upgrade() -> None:
    with op.batch_alter_table("namespaces") as batch:
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("namespaces") as batch:
        for name in reversed(COUNTERS):
            batch.drop_column(name)

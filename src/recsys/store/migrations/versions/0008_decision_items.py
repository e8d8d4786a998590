"""Bandit decisions keep the items they served, so that a click or purchase on one of them soon
after (by the same user) can reward the decision without the client naming it; an index finds a
user's recent decisions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    items = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    op.add_column("bandit_decisions", sa.Column("items", items, nullable=True))
    op.create_index(
        "ix_bandit_decisions_user_recent",
        "bandit_decisions",
        ["org_id", "namespace", "user_hash", "created_at_us"],
    )


def downgrade() -> None:
    op.drop_index("ix_bandit_decisions_user_recent", table_name="bandit_decisions")
    with op.batch_alter_table("bandit_decisions") as batch:
        batch.drop_column("items")

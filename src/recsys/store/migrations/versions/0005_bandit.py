"""Bandit experiments: policies (arms), decisions with their first reward, per-arm statistics.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bandit_policies",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("config", Json, nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", "policy_id", name="pk_bandit_policies"),
    )
    op.create_table(
        "bandit_decisions",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("bucket_key", sa.String(256), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("explore", sa.Boolean(), nullable=False),
        sa.Column("traffic_group", sa.String(16), nullable=False),
        sa.Column("experiment_label", sa.String(64), nullable=True),
        sa.Column("candidates", Json, nullable=False),
        sa.Column("user_hash", sa.String(64), nullable=True),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("rewarded_at_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "namespace", "decision_id", name="pk_bandit_decisions"),
    )
    op.create_table(
        "bandit_stats",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("bucket_key", sa.String(256), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("traffic_group", sa.String(16), nullable=False),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("rewards", sa.BigInteger(), nullable=False),
        sa.Column("reward_sum", sa.Float(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "namespace",
            "surface",
            "bucket_key",
            "policy_id",
            "traffic_group",
            name="pk_bandit_stats",
        ),
    )


def downgrade() -> None:
    op.drop_table("bandit_stats")
    op.drop_table("bandit_decisions")
    op.drop_table("bandit_policies")

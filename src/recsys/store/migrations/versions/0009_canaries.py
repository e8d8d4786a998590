"""Canaries: a tuned candidate config served beside the incumbent on one surface, with the
audit trail of every look the decision rule took.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("canary_id", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("candidate", Json, nullable=False),
        sa.Column("incumbent_version", sa.Integer(), nullable=False),
        sa.Column("traffic_share", sa.Float(), nullable=False),
        sa.Column("min_decisions", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("budget_decisions", sa.Integer(), nullable=False),
        sa.Column("look_every", sa.Integer(), nullable=False),
        sa.Column("min_coverage_ratio", sa.Float(), nullable=False),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("source", Json, nullable=False),
        sa.Column("author", sa.String(256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("p_better", sa.Float(), nullable=True),
        sa.Column("promoted_version", sa.Integer(), nullable=True),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("ended_at_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "canary_id", name="pk_canaries"),
    )
    op.create_index(
        "ix_canaries_org_id_namespace_status", "canaries", ["org_id", "namespace", "status"]
    )
    op.create_table(
        "canary_steps",
        sa.Column("step_id", RowId, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("canary_id", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("p_better", sa.Float(), nullable=True),
        sa.Column("evidence", Json, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("step_id", name="pk_canary_steps"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_canary_steps_org_id_canary_id_step_id",
        "canary_steps",
        ["org_id", "canary_id", "step_id"],
    )


def downgrade() -> None:
    op.drop_table("canary_steps")
    op.drop_table("canaries")

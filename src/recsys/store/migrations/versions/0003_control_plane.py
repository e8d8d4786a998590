"""Control plane: versioned namespace config, event types, segments and profiles, rules,
manual overrides, decision audit; a policy change counter on namespaces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("namespaces") as batch:
        batch.add_column(
            sa.Column("policy_version", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "configs",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("config", Json, nullable=False),
        sa.Column("author", sa.String(256), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "namespace", "version", name="pk_configs"),
    )
    op.create_table(
        "event_types",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("halflife_days", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", "type", name="pk_event_types"),
    )
    op.create_table(
        "segments",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("segment_id", sa.String(256), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("profile_id", sa.String(256), nullable=True),
        sa.Column("rules", Json, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", "segment_id", name="pk_segments"),
    )
    op.create_table(
        "segment_profiles",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(256), nullable=False),
        sa.Column("knobs", Json, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", "profile_id", name="pk_segment_profiles"),
    )
    op.create_table(
        "rules",
        sa.Column("rule_id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_key", sa.String(256), nullable=True),
        sa.Column("item_ids", Json, nullable=False),
        sa.Column("boost_value", sa.Float(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("segment_id", sa.String(256), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("valid_from_us", sa.BigInteger(), nullable=True),
        sa.Column("valid_until_us", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name="pk_rules"),
    )
    op.create_index("ix_rules_org_id_namespace", "rules", ["org_id", "namespace"])
    op.create_table(
        "manual_overrides",
        sa.Column("override_id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("boost_value", sa.Float(), nullable=True),
        sa.Column("expires_at_us", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(256), nullable=True),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_at_us", sa.BigInteger(), nullable=True),
        sa.Column("rule_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("override_id", name="pk_manual_overrides"),
    )
    op.create_index(
        "ix_manual_overrides_org_id_namespace", "manual_overrides", ["org_id", "namespace"]
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("user_hash", sa.String(64), nullable=True),
        sa.Column("surface", sa.String(64), nullable=True),
        sa.Column("segment_id", sa.String(256), nullable=True),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("rule_ids", Json, nullable=False),
        sa.Column("record", Json, nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decisions"),
    )
    op.create_index(
        "ix_decisions_org_id_namespace_created_at_us",
        "decisions",
        ["org_id", "namespace", "created_at_us"],
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_org_id_namespace_created_at_us", table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("ix_manual_overrides_org_id_namespace", table_name="manual_overrides")
    op.drop_table("manual_overrides")
    op.drop_index("ix_rules_org_id_namespace", table_name="rules")
    op.drop_table("rules")
    op.drop_table("segment_profiles")
    op.drop_table("segments")
    op.drop_table("event_types")
    op.drop_table("configs")
    with op.batch_alter_table("namespaces") as batch:
        batch.drop_column("policy_version")

"""Tenancy and ingestion tables: namespaces, items, users, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "namespaces",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", name="pk_namespaces"),
    )
    op.create_table(
        "items",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("brand", sa.String(256), nullable=True),
        sa.Column("category", sa.String(256), nullable=True),
        sa.Column("category_path", Json, nullable=False),
        sa.Column("tags", Json, nullable=False),
        sa.Column("props", Json, nullable=False),
        sa.Column("embedding", Json, nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", "item_id", name="pk_items"),
    )
    op.create_table(
        "users",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("traits", Json, nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "namespace", "user_id", name="pk_users"),
    )
    op.create_table(
        "events",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("meta", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint(
            "org_id", "namespace", "event_id", name="uq_events_org_id_namespace_event_id"
        ),
        # Never reuse an id on SQLite (PostgreSQL sequences never do): see schema.events.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_org_id_namespace_id", "events", ["org_id", "namespace", "id"])
    op.create_index(
        "ix_events_org_id_namespace_user_id", "events", ["org_id", "namespace", "user_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_events_org_id_namespace_user_id", table_name="events")
    op.drop_index("ix_events_org_id_namespace_id", table_name="events")
    op.drop_table("events")
    op.drop_table("users")
    op.drop_table("items")
    op.drop_table("namespaces")

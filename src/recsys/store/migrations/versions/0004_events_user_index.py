"""Drop the events (org_id, namespace, user_id) index: ingestion pays for it on every row.

Only "list or delete one user's events" used it; those now scan the namespace's events in id
order, which is slower but rare, while every ingested event stops updating a random page of a
third index (about half of SQLite's insert cost at 500-event batches).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_org_id_namespace_user_id", table_name="events")


def downgrade() -> None:
    op.create_index(
        "ix_events_org_id_namespace_user_id", "events", ["org_id", "namespace", "user_id"]
    )

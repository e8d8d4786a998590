"""Audit decisions are keyed by (org_id, decision_id), not decision_id alone: two tenants can
never collide on an id (one's record silently dropped), and an index on created_at_us serves
the retention purge. `service_secrets` holds deployment-wide keys (the page-token key), shared
by every worker and kept across restarts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a primary key in place, so the table is copied.
    with op.batch_alter_table("decisions", recreate="always") as batch:
        batch.drop_constraint("pk_decisions", type_="primary")
        batch.create_primary_key("pk_decisions", ["org_id", "decision_id"])
    op.create_index("ix_decisions_created_at_us", "decisions", ["created_at_us"])
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_service_secrets"),
    )


def downgrade() -> None:
    op.drop_table("service_secrets")
    op.drop_index("ix_decisions_created_at_us", table_name="decisions")
    with op.batch_alter_table("decisions", recreate="always") as batch:
        batch.drop_constraint("pk_decisions", type_="primary")
        batch.create_primary_key("pk_decisions", ["decision_id"])

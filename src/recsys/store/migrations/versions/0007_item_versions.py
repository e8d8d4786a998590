"""Items remember the catalogue version of the write that last set them, so that a refresh after
a catalogue edit reads the edited rows only, not the whole catalogue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "items",
        sa.Column("catalog_version", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("catalog_version")

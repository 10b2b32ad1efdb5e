"""workspaces: the attribution window and the secret that signs identify calls

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("attribution_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch.add_column(sa.Column("identity_secret", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("identity_secret")
        batch.drop_column("attribution_days")

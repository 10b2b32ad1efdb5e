"""chat: conversations idle this many hours are closed (workspaces.chat_auto_resolve_hours)

Revision ID: 0011_chat_auto_resolve
Revises: 0010_person_arms
Create Date: 2026-12-05 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_chat_auto_resolve"
down_revision: str | None = "0010_person_arms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("chat_auto_resolve_hours", sa.Integer(), nullable=False, server_default="24")
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("chat_auto_resolve_hours")

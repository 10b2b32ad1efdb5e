"""chat: each visitor-visible line names the one before it (messages.prev_seq)

Revision ID: 0009_chat_trust
Revises: 0008
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_chat_trust"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("prev_seq", sa.Integer(), nullable=True))
    # Existing lines: the previous line that is not a note (0 for the first).
    op.execute(
        "UPDATE messages SET prev_seq = (SELECT COALESCE(MAX(m.seq), 0) FROM messages m"
        " WHERE m.conversation_id = messages.conversation_id AND m.note = false"
        " AND m.seq < messages.seq) WHERE note = false"
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("prev_seq")

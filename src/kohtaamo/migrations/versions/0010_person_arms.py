"""exposures: an index on the customer, for a person's exposures on every device (ADR 0013)

Revision ID: 0010_person_arms
Revises: 0009_chat_trust
Create Date: 2026-12-05 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_person_arms"
down_revision: str | None = "0009_chat_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_exposures_customer", "exposures", ["workspace_id", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_exposures_customer", table_name="exposures")

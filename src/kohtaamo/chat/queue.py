"""The queue: conversations waiting for a free agent, oldest first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.chat.models import Conversation, Status


async def queued(session: AsyncSession, workspace_id: int) -> list[Conversation]:
    return list(
        (
            await session.execute(
                select(Conversation)
                .where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.status == Status.pending,
                    Conversation.queued_at.is_not(None),
                )
                .order_by(Conversation.queued_at, Conversation.id)
            )
        ).scalars()
    )


async def position(session: AsyncSession, conv: Conversation) -> int | None:
    """1 for the next in line; None when not queued."""
    if conv.status != Status.pending or conv.queued_at is None:
        return None
    ahead = (
        await session.execute(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.workspace_id == conv.workspace_id,
                Conversation.status == Status.pending,
                Conversation.queued_at.is_not(None),
                (Conversation.queued_at < conv.queued_at)
                | ((Conversation.queued_at == conv.queued_at) & (Conversation.id < conv.id)),
            )
        )
    ).scalar_one()
    return int(ahead) + 1

"""Telling everyone concerned that a conversation changed: its agents (the inbox row) and its
visitor (their narrower view)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth.models import User
from kohtaamo.chat import events
from kohtaamo.chat.models import Conversation
from kohtaamo.chat.queue import position


async def announce(session: AsyncSession, conv: Conversation) -> None:
    """Tell the agents (inbox row) and the visitor (their view) that the conversation changed."""
    await session.flush()
    assignee = await session.get(User, conv.assignee_id) if conv.assignee_id else None
    place = await position(session, conv)
    events.announce_to_visitor(
        session,
        conv,
        {
            "type": "conversation",
            "conversation": events.public_view(
                conv, assignee=assignee.name if assignee else None, position=place
            ),
        },
    )
    row = inbox_row(conv, assignee_name=assignee.name if assignee else None, position=place)
    events.announce_to_agents(
        session, conv.workspace_id, {"type": "conversation", "conversation": row}
    )


def inbox_row(
    conv: Conversation, *, assignee_name: str | None, position: int | None
) -> dict[str, Any]:
    return {
        "id": conv.id,
        "workspace_id": conv.workspace_id,
        "status": conv.status,
        "visitor_key": conv.visitor_key,
        "visit_key": conv.visit_key,
        "locale": conv.locale,
        "customer_id": conv.customer_id,
        "origin": conv.origin,
        "rule_id": conv.rule_id,
        "assignee_id": conv.assignee_id,
        "assignee_name": assignee_name,
        "team_id": conv.team_id,
        "lead_email": conv.lead_email,
        "last_seq": conv.last_seq,
        "agent_read_seq": conv.agent_read_seq,
        "visitor_read_seq": conv.visitor_read_seq,
        "preview": conv.preview,
        "messages_count": conv.messages_count,
        "queue_position": position,
        "rating": conv.rating,
        "created_at": events.iso(conv.created_at),
        "last_message_at": events.iso(conv.last_message_at),
    }


async def visitor_view(session: AsyncSession, conv: Conversation) -> dict[str, Any]:
    assignee = await session.get(User, conv.assignee_id) if conv.assignee_id else None
    return events.public_view(
        conv, assignee=assignee.name if assignee else None, position=await position(session, conv)
    )

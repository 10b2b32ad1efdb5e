"""What chat writes tell the sockets. The writer names the recipients (topics), as in Zulip; the
fan-out only delivers. Frames are built from committed rows, and leave after the commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.bus import Event, publish
from kohtaamo.chat.models import Conversation, Message


@dataclass(frozen=True, slots=True)
class ChatEvent(Event):
    topics: tuple[str, ...]
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LoadChanged(Event):
    """Open chats or the queue changed: presence (which rules read) must be recounted."""


def publish_load(session: AsyncSession, workspace_id: int) -> None:
    publish(session, LoadChanged(workspace_id))


def agents_topic(workspace_id: int) -> str:
    return f"a:{workspace_id}"


def conversation_topic(conversation_id: int) -> str:
    return f"c:{conversation_id}"


def user_topic(user_id: int) -> str:
    """One staff member's consoles, on every worker (membership changes)."""
    return f"u:{user_id}"


def visitor_topic(workspace_id: int, visitor_key: str) -> str:
    return f"v:{workspace_id}:{visitor_key}"


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def message_frame(msg: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "workspace_id": msg.workspace_id,
        "conversation_id": msg.conversation_id,
        "seq": msg.seq,
        "prev": msg.prev_seq,  # the visitor-visible line before this one (null on notes)
        "id": msg.id,
        "author": msg.author,
        "author_name": msg.author_name,
        "body": msg.body,
        "note": msg.note,
        "at": iso(msg.created_at),
        "client_id": msg.client_id,
    }


def public_view(
    conv: Conversation, *, assignee: str | None, position: int | None
) -> dict[str, Any]:
    """The conversation as its visitor may see it: no notes, no context, no other visitors."""
    return {
        "id": conv.id,
        "status": conv.status,
        "last_seq": conv.last_seq,
        "assignee": {"name": assignee} if assignee else None,
        "queue_position": position,
        "rating": conv.rating,
        "lead": conv.lead_email is not None,
        "agent_read_seq": conv.agent_read_seq,
    }


def announce_message(session: AsyncSession, conv: Conversation, msg: Message) -> None:
    """To the agents following the conversation (its assignee, whoever has it open); to every
    agent while nobody has it (the inbox shows it to all); to the visitor unless it is a note."""
    frame = message_frame(msg)
    topics = [conversation_topic(conv.id)]
    if conv.assignee_id is None:
        topics.append(agents_topic(conv.workspace_id))
    if not msg.note:
        topics.append(visitor_topic(conv.workspace_id, conv.visitor_key))
    publish(session, ChatEvent(conv.workspace_id, tuple(topics), frame))


def announce_to_followers(session: AsyncSession, conv: Conversation, frame: dict[str, Any]) -> None:
    publish(session, ChatEvent(conv.workspace_id, (conversation_topic(conv.id),), frame))


def announce_to_agents(session: AsyncSession, workspace_id: int, frame: dict[str, Any]) -> None:
    publish(session, ChatEvent(workspace_id, (agents_topic(workspace_id),), frame))


def announce_to_visitor(session: AsyncSession, conv: Conversation, frame: dict[str, Any]) -> None:
    topic = visitor_topic(conv.workspace_id, conv.visitor_key)
    publish(session, ChatEvent(conv.workspace_id, (topic,), frame))

"""Conversations, their messages, and what agents need around them (teams, capacity, canned replies)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kohtaamo.db.base import Base, BigIntPK, JSONType, UTCDateTime

DEFAULT_CAPACITY = 3
MAX_BODY = 4000


class Status(StrEnum):
    open = "open"  # with an agent
    pending = "pending"  # waiting: in the queue, or a lead left while nobody was online
    resolved = "resolved"


class Author(StrEnum):
    visitor = "visitor"
    agent = "agent"
    bot = "bot"  # a rule's opening message, in its persona's name
    system = "system"  # "forwarded to …", "closed by …"


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatAgent(Base):
    """A member's chat settings in one workspace: capacity, team, last chosen status."""

    __tablename__ = "chat_agents"
    __table_args__ = (
        CheckConstraint("status IN ('online', 'away')", name="status"),
        CheckConstraint("capacity >= 0 AND capacity <= 50", name="capacity"),
    )

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    capacity: Mapped[int] = mapped_column(Integer, default=DEFAULT_CAPACITY)
    status: Mapped[str] = mapped_column(String(8), default="online")
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'pending', 'resolved')", name="status"),
        CheckConstraint("rating IS NULL OR rating IN ('up', 'down')", name="rating"),
        Index("ix_conversations_inbox", "workspace_id", "status", "last_message_at"),
        Index("ix_conversations_visitor", "workspace_id", "visitor_key", "id"),
        Index("ix_conversations_assignee", "workspace_id", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    visitor_key: Mapped[str] = mapped_column(String(64))
    visit_key: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default=Status.pending)
    origin: Mapped[str] = mapped_column(String(12), default="visitor")  # visitor | rule
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("rules.id", ondelete="SET NULL"), nullable=True
    )
    exposure_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The visit as it was when the chat opened: page, cart, errors (the live view is beside it).
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    locale: Mapped[str] = mapped_column(String(2), default="fi")
    lead_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    visitor_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    agent_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    messages_count: Mapped[int] = mapped_column(Integer, default=0)
    preview: Mapped[str] = mapped_column(String(160), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rating: Mapped[str | None] = mapped_column(String(4), nullable=True)
    rating_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
        Index("ix_messages_workspace", "workspace_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(8))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    author_name: Mapped[str] = mapped_column(String(120), default="")
    body: Mapped[str] = mapped_column(Text)
    note: Mapped[bool] = mapped_column(Boolean, default=False)
    # The seq of the visitor-visible line before this one (0: none; null on notes). Notes take
    # numbers too, so a visitor's "is something missing?" is `prev > highest held`, not a hole.
    prev_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Case-folded body for transcript search (SQLite's LIKE folds ASCII only; this folds ä, Ö…).
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Forward(Base):
    """A hand-over to a colleague or a team: kept, because how often an agent forwards is a KPI."""

    __tablename__ = "conversation_forwards"
    __table_args__ = (Index("ix_forwards_conversation", "conversation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    from_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    to_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    to_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CannedReply(Base):
    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("workspace_id", "shortcut", "locale"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    shortcut: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

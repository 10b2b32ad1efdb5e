"""Finding conversations (the inbox's filters, transcript search) and exporting one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.chat.events import iso
from kohtaamo.chat.models import Conversation, Message, Status

View = Literal["all", "mine", "unassigned", "queue", "leads", "open", "pending", "resolved"]
MAX_QUERY = 200


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(
    workspace_id: int, *, view: View, user_id: int, q: str | None
) -> Select[tuple[Conversation]]:
    stmt = select(Conversation).where(Conversation.workspace_id == workspace_id)
    if view == "mine":
        stmt = stmt.where(
            Conversation.assignee_id == user_id, Conversation.status != Status.resolved
        )
    elif view == "unassigned":
        stmt = stmt.where(
            Conversation.assignee_id.is_(None), Conversation.status != Status.resolved
        )
    elif view == "queue":
        stmt = stmt.where(
            Conversation.status == Status.pending, Conversation.queued_at.is_not(None)
        )
    elif view == "leads":
        stmt = stmt.where(
            Conversation.lead_email.is_not(None), Conversation.status != Status.resolved
        )
    elif view in ("open", "pending", "resolved"):
        stmt = stmt.where(Conversation.status == view)
    if q:
        like = f"%{_escape(q.casefold())}%"
        hit = exists().where(
            Message.conversation_id == Conversation.id,
            Message.search_text.like(like, escape="\\"),
        )
        stmt = stmt.where(
            or_(
                hit, Conversation.lead_email.ilike(like, escape="\\"), Conversation.customer_id == q
            )
        )
    return stmt


async def find(
    session: AsyncSession,
    workspace_id: int,
    *,
    user_id: int,
    view: View = "all",
    q: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[Conversation], int | None]:
    """Newest first, paged by id (`before`): stable while new chats keep arriving."""
    stmt = _filtered(workspace_id, view=view, user_id=user_id, q=q)
    if before is not None:
        stmt = stmt.where(Conversation.id < before)
    rows = list(
        (await session.execute(stmt.order_by(Conversation.id.desc()).limit(limit + 1))).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def matches(session: AsyncSession, conv_id: int, q: str, limit: int = 3) -> list[Message]:
    like = f"%{_escape(q.casefold())}%"
    rows = await session.execute(
        select(Message)
        .where(Message.conversation_id == conv_id, Message.search_text.like(like, escape="\\"))
        .order_by(Message.seq)
        .limit(limit)
    )
    return list(rows.scalars())


async def transcript(session: AsyncSession, conv: Conversation) -> list[Message]:
    rows = await session.execute(
        select(Message).where(Message.conversation_id == conv.id).order_by(Message.seq)
    )
    return list(rows.scalars())


def _local(at: datetime | None, zone: ZoneInfo) -> str | None:
    return at.astimezone(zone).isoformat() if at is not None else None


def as_json(conv: Conversation, messages: list[Message], *, timezone: str) -> dict[str, Any]:
    """Instants stay ISO UTC (`at`, `created_at`); `*_local` are the same instants in the
    workspace's zone, named in `timezone`, as the reports show them."""
    zone = ZoneInfo(timezone)
    return {
        "conversation": {
            "timezone": timezone,
            "id": conv.id,
            "status": conv.status,
            "origin": conv.origin,
            "visitor_id": conv.visitor_key,
            "customer_id": conv.customer_id,
            "rule_id": conv.rule_id,
            "variant": conv.variant,
            "lead_email": conv.lead_email,
            "created_at": iso(conv.created_at),
            "created_at_local": _local(conv.created_at, zone),
            "resolved_at": iso(conv.resolved_at),
            "resolved_at_local": _local(conv.resolved_at, zone),
            "rating": conv.rating,
            "rating_comment": conv.rating_comment,
            "context": conv.context,
        },
        "messages": [
            {
                "seq": m.seq,
                "at": iso(m.created_at),
                "local_at": _local(m.created_at, zone),
                "author": m.author,
                "author_name": m.author_name,
                "note": m.note,
                "body": m.body,
            }
            for m in messages
        ],
    }


def as_text(
    conv: Conversation, messages: list[Message], *, labels: dict[str, str], timezone: str
) -> str:
    """A plain transcript a person can read or paste into an email: in the language asked for,
    every time in the workspace's zone (named in the header, its abbreviation on each line)."""
    zone = ZoneInfo(timezone)

    def at(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    lines = [f"# {labels['conversation']} {conv.id} · {at(conv.created_at)}"]
    lines.append(f"# {labels['zone']}: {timezone}")
    if conv.rating:
        lines.append(f"# {labels['rating']}: {labels.get('rating.' + conv.rating, conv.rating)}")
    for m in messages:
        who = m.author_name or labels.get(m.author, m.author)
        tag = f" ({labels['note']})" if m.note else ""
        lines.append(f"[{at(m.created_at)}] {who}{tag}: {m.body}")
    return "\n".join(lines) + "\n"

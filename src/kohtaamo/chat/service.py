"""Conversations and messages. Every user-visible write is one function that also announces itself
(chat.events); the request's transaction commits, then the frames go out.

Sequence numbers: each message takes `conversations.last_seq + 1` by an UPDATE … RETURNING in the
same transaction as its INSERT, so numbers are dense and ordered per conversation on SQLite and
PostgreSQL alike (the UPDATE holds the row until the commit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kohtaamo.auth.models import User
from kohtaamo.chat import events, routing
from kohtaamo.chat.announce import announce
from kohtaamo.chat.models import Author, Conversation, Message, Status
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Conflict, Invalid, NotFound
from kohtaamo.realtime.presence import Presence
from kohtaamo.rules.models import Exposure, Outcome, Rule
from kohtaamo.shops.directory import Site

REPLAY_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Said:
    conv: Conversation
    msg: Message
    duplicate: bool
    opened: bool  # this message opened the conversation


async def current(
    session: AsyncSession, workspace_id: int, visitor_key: str
) -> Conversation | None:
    """The visitor's latest conversation (resolved ones included: the visitor may still rate it)."""
    return (
        await session.execute(
            select(Conversation)
            .where(
                Conversation.workspace_id == workspace_id, Conversation.visitor_key == visitor_key
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def get(session: AsyncSession, workspace_id: int, conversation_id: int) -> Conversation:
    conv = await session.get(Conversation, conversation_id)
    if conv is None or conv.workspace_id != workspace_id:
        raise NotFound("no such conversation", field="conversation_id")
    return conv


async def assigned_to(session: AsyncSession, user_id: int, workspace_ids: list[int]) -> list[int]:
    """The conversations an agent is handling now: their console follows these."""
    rows = await session.execute(
        select(Conversation.id).where(
            Conversation.workspace_id.in_(workspace_ids),
            Conversation.assignee_id == user_id,
            Conversation.status != Status.resolved,
        )
    )
    return [int(c) for c in rows.scalars()]


async def _by_client_id(session: AsyncSession, conv_id: int, client_id: str) -> Message | None:
    return (
        await session.execute(
            select(Message).where(
                Message.conversation_id == conv_id, Message.client_id == client_id
            )
        )
    ).scalar_one_or_none()


async def append(
    session: AsyncSession,
    conv: Conversation,
    *,
    author: Author,
    body: str,
    author_id: int | None = None,
    author_name: str = "",
    note: bool = False,
    client_id: str | None = None,
    now: datetime | None = None,
    also: dict[str, Any] | None = None,
) -> Message:
    """Store one message: one UPDATE takes the next seq (and moves the conversation's counters,
    plus `also`), one INSERT stores the row. The hot path of every chat, so no ORM flush."""
    now = now or utcnow()
    values: dict[str, Any] = {"last_seq": Conversation.last_seq + 1, "last_message_at": now}
    if not note:
        values["messages_count"] = Conversation.messages_count + 1
        values["preview"] = body[:160]
    values.update(also or {})
    seq = (
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conv.id)
            .values(**values)
            .returning(Conversation.last_seq, Conversation.messages_count)
            .execution_options(synchronize_session=False)
        )
    ).one()
    # The UPDATE holds the conversation: no line can land between this read and the INSERT.
    prev = None if note else await _last_visible(session, conv.id)
    row = {
        "conversation_id": conv.id,
        "workspace_id": conv.workspace_id,
        "seq": seq[0],
        "author": str(author),
        "author_id": author_id,
        "author_name": author_name,
        "body": body,
        "note": note,
        "prev_seq": prev,
        "client_id": client_id,
        "search_text": body.casefold(),
        "created_at": now,
    }
    msg_id = (
        await session.execute(insert(Message).values(**row).returning(Message.id))
    ).scalar_one()
    # The conversation object learns what the UPDATE wrote without writing it again.
    set_committed_value(conv, "last_seq", seq[0])
    set_committed_value(conv, "messages_count", seq[1])
    set_committed_value(conv, "last_message_at", now)
    if not note:
        set_committed_value(conv, "preview", body[:160])
    for key, value in (also or {}).items():
        set_committed_value(conv, key, value)
    msg = Message(id=msg_id, **row)
    events.announce_message(session, conv, msg)
    return msg


async def _last_visible(session: AsyncSession, conversation_id: int) -> int:
    """The seq of the conversation's last line its visitor sees (0: none yet)."""
    last = await session.scalar(
        select(func.max(Message.seq)).where(
            Message.conversation_id == conversation_id, Message.note.is_(False)
        )
    )
    return int(last or 0)


async def _greeting(
    session: AsyncSession, site: Site, visitor_key: str, exposure_id: int
) -> tuple[Exposure, Rule]:
    exp = await session.get(Exposure, exposure_id)
    if (
        exp is None
        or exp.workspace_id != site.workspace_id
        or exp.visitor_key != visitor_key
        or exp.outcome != Outcome.fired
    ):
        raise Invalid("this exposure did not open a chat for this visitor", field="exposure_id")
    rule = await session.get(Rule, exp.rule_id)
    if rule is None:
        raise Invalid("the rule of this exposure no longer exists", field="exposure_id")
    return exp, rule


def _rule_text(rule: Rule, variant: str | None, locale: str) -> str:
    msgs: dict[str, str] = dict(rule.action.get("messages") or {})
    for v in rule.variants or []:
        if v.get("key") == variant and v.get("messages"):
            msgs = dict(v["messages"])
    return msgs.get(locale) or next(iter(msgs.values()), "")


def _persona(rule: Rule) -> str:
    # The rule's own name is internal ("Cart idle 90 s"): never shown to the visitor. Without a
    # persona the widget shows its own title.
    persona = rule.action.get("persona") or {}
    return str(persona.get("name") or persona.get("title") or "")


async def visitor_says(
    session: AsyncSession,
    *,
    site: Site,
    presence: Presence,
    visitor_key: str,
    visit_key: str,
    body: str,
    client_id: str,
    exposure_id: int | None = None,
    email: str | None = None,
    customer_id: str | None = None,
    snapshot: dict[str, Any] | None = None,
) -> Said:
    """Store a visitor's message, opening (and routing) a conversation if none is going on.
    A re-sent client_id stores nothing and answers with the first message."""
    conv, seen = await _current_and_seen(session, site.workspace_id, visitor_key, client_id)
    if conv is not None and seen is not None:
        if seen.author != Author.visitor:
            raise Conflict("client_id is already used in this conversation", field="client_id")
        return Said(conv, seen, duplicate=True, opened=False)
    now = utcnow()
    if conv is None or conv.status == Status.resolved:
        conv = await _open(
            session,
            site=site,
            presence=presence,
            visitor_key=visitor_key,
            visit_key=visit_key,
            exposure_id=exposure_id,
            email=email,
            customer_id=customer_id,
            snapshot=snapshot,
            now=now,
        )
        opened = True
    else:
        opened = False
    changed = opened
    if email and not opened and conv.lead_email is None and conv.assignee_id is None:
        conv.lead_email = email
        changed = True
    msg = await append(
        session, conv, author=Author.visitor, body=body, client_id=client_id, now=now
    )
    if opened and conv.lead_email is None:
        await routing.route(session, conv, presence=presence, now=now)
    if changed:
        # A plain message in a going conversation changes nothing the message frame does not say.
        await announce(session, conv)
    return Said(conv, msg, duplicate=False, opened=opened)


async def _current_and_seen(
    session: AsyncSession, workspace_id: int, visitor_key: str, client_id: str
) -> tuple[Conversation | None, Message | None]:
    """The visitor's latest conversation and, in the same query, whether it holds `client_id`."""
    seen_id = (
        select(Message.id)
        .where(Message.conversation_id == Conversation.id, Message.client_id == client_id)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(Conversation, seen_id)
            .where(
                Conversation.workspace_id == workspace_id, Conversation.visitor_key == visitor_key
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        return None, None
    conv, msg_id = row
    return conv, (await session.get(Message, msg_id) if msg_id is not None else None)


async def _open(
    session: AsyncSession,
    *,
    site: Site,
    presence: Presence,
    visitor_key: str,
    visit_key: str,
    exposure_id: int | None,
    email: str | None,
    customer_id: str | None,
    snapshot: dict[str, Any] | None,
    now: datetime,
) -> Conversation:
    exp: Exposure | None = None
    rule: Rule | None = None
    if exposure_id is not None:
        exp, rule = await _greeting(session, site, visitor_key, exposure_id)
    online = (await presence.snapshot(site.workspace_id)).online
    conv = Conversation(
        workspace_id=site.workspace_id,
        visitor_key=visitor_key,
        visit_key=visit_key,
        customer_id=customer_id or (exp.customer_id if exp else None),
        status=Status.pending,
        origin="rule" if rule else "visitor",
        rule_id=rule.id if rule else None,
        exposure_id=exp.id if exp else None,
        variant=exp.variant if exp else None,
        context=(exp.context if exp and exp.context else snapshot),
        locale=site.locale,
        # With nobody online the message is a lead: it waits for an agent to pick it up.
        lead_email=email if (email and online == 0) else None,
        last_seq=0,
        visitor_read_seq=0,
        agent_read_seq=0,
        messages_count=0,
        preview="",
        created_at=now,
        last_message_at=now,
    )
    session.add(conv)
    await session.flush()
    if rule is not None:
        await append(
            session,
            conv,
            author=Author.bot,
            body=_rule_text(rule, conv.variant, site.locale),
            author_name=_persona(rule),
            now=now,
        )
    return conv


async def agent_says(
    session: AsyncSession,
    *,
    conv: Conversation,
    user: User,
    body: str,
    client_id: str,
    note: bool = False,
) -> tuple[Message, bool]:
    seen = await _by_client_id(session, conv.id, client_id)
    if seen is not None:
        if seen.author_id != user.id:
            raise Conflict("client_id is already used in this conversation", field="client_id")
        return seen, True
    now = utcnow()
    also: dict[str, Any] = {}
    first = not note and conv.first_response_at is None
    if first:
        also["first_response_at"] = now
    msg = await append(
        session,
        conv,
        author=Author.agent,
        body=body,
        author_id=user.id,
        author_name=user.name,
        note=note,
        client_id=client_id,
        now=now,
        also=also,
    )
    changed = first
    if not note and conv.assignee_id is None and conv.status != Status.resolved:
        # Answering an unassigned chat (a lead, the queue) takes it.
        await routing.assign(session, conv, user_id=user.id, now=now)
        changed = True
    if changed:
        await announce(session, conv)
    return msg, False


async def messages_after(
    session: AsyncSession, conv: Conversation, after: int, *, notes: bool, limit: int = REPLAY_LIMIT
) -> list[Message]:
    q = (
        select(Message)
        .where(Message.conversation_id == conv.id, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    if not notes:
        q = q.where(Message.note.is_(False))
    return list((await session.execute(q)).scalars())


async def mark_read(session: AsyncSession, conv: Conversation, *, by: Author, seq: int) -> None:
    seq = min(max(seq, 0), conv.last_seq)
    if by == Author.visitor:
        if seq <= conv.visitor_read_seq:
            return
        conv.visitor_read_seq = seq
    else:
        if seq <= conv.agent_read_seq:
            return
        conv.agent_read_seq = seq
    await session.flush()
    frame = {"type": "read", "conversation_id": conv.id, "seq": seq, "by": str(by)}
    events.announce_to_followers(session, conv, frame)
    if by != Author.visitor:
        events.announce_to_visitor(session, conv, frame)

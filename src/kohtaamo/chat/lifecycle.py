"""A conversation's life after it opens: rated, closed, reopened, forwarded. Each write also
announces itself; closing and forwarding free a slot, so the queue moves in the same transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kohtaamo.auth.models import Membership, User
from kohtaamo.chat import events, lines, routing
from kohtaamo.chat.announce import announce
from kohtaamo.chat.models import Author, Conversation, Forward, Status, Team
from kohtaamo.chat.service import append
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Conflict, Invalid
from kohtaamo.realtime.presence import Presence


async def rate(
    session: AsyncSession, conv: Conversation, *, value: str, comment: str | None
) -> None:
    if conv.status != Status.resolved:
        raise Conflict("a conversation can be rated once it is closed", field="conversation_id")
    conv.rating = value
    conv.rating_comment = comment or None
    conv.rated_at = utcnow()
    await session.flush()
    await announce(session, conv)


async def resolve(
    session: AsyncSession,
    conv: Conversation,
    *,
    presence: Presence,
    user: User | None = None,
    idle_hours: int | None = None,
) -> Conversation:
    """Close a conversation: by `user`, or by Kohtaamo (chat.idle) when no message has come for
    `idle_hours`. The close is claimed by one conditional UPDATE, so two closers racing (two
    agents, two workers' sweeps) write one line: the second finds it closed, or a newer message."""
    if conv.status == Status.resolved:
        return conv
    now = utcnow()
    claim = (
        update(Conversation)
        .where(Conversation.id == conv.id, Conversation.status != Status.resolved)
        .values(status=Status.resolved, resolved_at=now, queued_at=None)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    if idle_hours is not None:
        claim = claim.where(Conversation.last_message_at < now - timedelta(hours=idle_hours))
    if (await session.execute(claim)).first() is None:
        await session.refresh(conv)
        return conv
    set_committed_value(conv, "status", Status.resolved)
    set_committed_value(conv, "resolved_at", now)
    set_committed_value(conv, "queued_at", None)
    body = (
        lines.line(conv.locale, "closed_idle", str(idle_hours))
        if user is None
        else lines.line(conv.locale, "closed", user.name)
    )
    await append(session, conv, author=Author.system, body=body, now=now)
    events.publish_load(session, conv.workspace_id)  # a slot is free: presence recounts
    await routing.drain(session, conv.workspace_id, presence=presence, now=now)
    await announce(session, conv)
    return conv


async def reopen(session: AsyncSession, conv: Conversation, *, user: User) -> Conversation:
    if conv.status != Status.resolved:
        return conv
    now = utcnow()
    conv.resolved_at = None
    conv.rating = None
    conv.rating_comment = None
    await routing.assign(session, conv, user_id=user.id, now=now)
    await append(
        session,
        conv,
        author=Author.system,
        body=lines.line(conv.locale, "reopened", user.name),
        now=now,
    )
    await announce(session, conv)
    return conv


async def forward(
    session: AsyncSession,
    conv: Conversation,
    *,
    by: User,
    presence: Presence,
    to_user_id: int | None = None,
    to_team_id: int | None = None,
    note: str = "",
) -> Forward:
    """Hand a conversation to a colleague (who may take it beyond capacity: a person chose them)
    or to a team (routed inside the team, else queued for it). Recorded: forwards are a KPI."""
    if (to_user_id is None) == (to_team_id is None):
        raise Invalid("give exactly one of to_user_id and to_team_id", field="to_user_id")
    if conv.status == Status.resolved:
        raise Conflict("a closed conversation cannot be forwarded", field="conversation_id")
    now = utcnow()
    target = ""
    if to_user_id is not None:
        if to_user_id == conv.assignee_id:
            raise Invalid("the conversation is already theirs", field="to_user_id")
        user = await session.get(User, to_user_id)
        if user is None or not await is_member(session, conv.workspace_id, to_user_id):
            raise Invalid("no such agent in this workspace", field="to_user_id")
        await routing.assign(session, conv, user_id=to_user_id, now=now)
        target = user.name
    else:
        team = await session.get(Team, to_team_id)
        if team is None or team.workspace_id != conv.workspace_id:
            raise Invalid("no such team in this workspace", field="to_team_id")
        conv.team_id = team.id
        conv.assignee_id = None
        await routing.route(session, conv, presence=presence, now=now)
        target = team.name
    row = Forward(
        conversation_id=conv.id,
        workspace_id=conv.workspace_id,
        from_user_id=by.id,
        to_user_id=to_user_id,
        to_team_id=to_team_id,
        note=note,
        at=now,
    )
    session.add(row)
    await append(
        session,
        conv,
        author=Author.system,
        body=lines.line(conv.locale, "forwarded", by.name, target),
        now=now,
    )
    await routing.drain(session, conv.workspace_id, presence=presence, now=now)
    await announce(session, conv)
    return row


async def is_member(session: AsyncSession, workspace_id: int, user_id: int) -> bool:
    found = await session.execute(
        select(Membership.user_id).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    return found.first() is not None

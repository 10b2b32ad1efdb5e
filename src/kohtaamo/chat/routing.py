"""Who takes a conversation: an online agent with a free slot, in the rule's team when it names
one, the least loaded first; otherwise the queue, oldest first.

Counting and assigning happen under a lock on the workspace row (`UPDATE workspaces SET id = id`):
PostgreSQL holds that row until the commit and SQLite takes its write lock, so two workers cannot
both see the same free slot and fill it twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.chat import events
from kohtaamo.chat.announce import announce
from kohtaamo.chat.models import ChatAgent, Conversation, Status
from kohtaamo.chat.queue import queued
from kohtaamo.kit.clock import utcnow
from kohtaamo.realtime.presence import AgentState, Presence
from kohtaamo.shops.models import Workspace


async def lock(session: AsyncSession, workspace_id: int) -> None:
    await session.flush()  # the counts below must see this transaction's own changes
    await session.execute(
        update(Workspace).where(Workspace.id == workspace_id).values(id=Workspace.id)
    )


async def open_counts(session: AsyncSession, workspace_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.status == Status.open,
            Conversation.assignee_id.is_not(None),
        )
        .group_by(Conversation.assignee_id)
    )
    return {int(uid): int(n) for uid, n in rows.all()}


async def _teams(session: AsyncSession, workspace_id: int) -> dict[int, int | None]:
    rows = await session.execute(
        select(ChatAgent.user_id, ChatAgent.team_id).where(ChatAgent.workspace_id == workspace_id)
    )
    return {int(uid): tid for uid, tid in rows.all()}


def _pick(
    agents: list[AgentState],
    counts: dict[int, int],
    teams: dict[int, int | None],
    team: int | None,
) -> int | None:
    free = [a for a in agents if a.status == "online" and counts.get(a.user_id, 0) < a.capacity]
    if team is not None:
        # A chat forwarded to a team waits for that team (that is why it was sent there).
        free = [a for a in free if teams.get(a.user_id) == team]
    if not free:
        return None
    best = min(
        free,
        key=lambda a: (
            counts.get(a.user_id, 0) / max(a.capacity, 1),
            counts.get(a.user_id, 0),
            a.user_id,
        ),
    )
    return best.user_id


async def route(
    session: AsyncSession,
    conv: Conversation,
    *,
    presence: Presence,
    now: datetime | None = None,
) -> int | None:
    """Assign a new conversation, or queue it. Returns the agent's id, or None when queued."""
    now = now or utcnow()
    await lock(session, conv.workspace_id)
    agents = await presence.agents(conv.workspace_id)
    user_id = _pick(
        agents,
        await open_counts(session, conv.workspace_id),
        await _teams(session, conv.workspace_id),
        conv.team_id,
    )
    if user_id is None:
        conv.status = Status.pending
        conv.queued_at = conv.queued_at or now
        await session.flush()
        events.publish_load(session, conv.workspace_id)
        return None
    await assign(session, conv, user_id=user_id, now=now)
    return user_id


async def assign(
    session: AsyncSession, conv: Conversation, *, user_id: int, now: datetime | None = None
) -> None:
    now = now or utcnow()
    conv.assignee_id = user_id
    conv.status = Status.open
    conv.queued_at = None
    conv.assigned_at = now
    await session.flush()
    events.announce_to_agents(
        session,
        conv.workspace_id,
        {"type": "notice", "conversation_id": conv.id, "user_id": user_id, "preview": conv.preview},
    )
    events.publish_load(session, conv.workspace_id)


async def release(
    session: AsyncSession, workspace_id: int, user_id: int, *, presence: Presence
) -> list[Conversation]:
    """An agent left the workspace: their conversations go back to routing (an online colleague
    with a free slot, or the queue, ahead of newer chats: they have waited longest)."""
    await lock(session, workspace_id)
    rows = await session.execute(
        select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.assignee_id == user_id,
            Conversation.status != Status.resolved,
        )
        .order_by(Conversation.id)
    )
    convs = list(rows.scalars())
    for conv in convs:
        conv.assignee_id = None
        conv.queued_at = conv.created_at
        await route(session, conv, presence=presence)
        await announce(session, conv)
    events.publish_load(session, workspace_id)
    return convs


async def drain(
    session: AsyncSession, workspace_id: int, *, presence: Presence, now: datetime | None = None
) -> list[Conversation]:
    """Give queued conversations to agents with free slots, oldest first; tell the rest their
    new places. Call after a slot frees up or an agent comes online."""
    now = now or utcnow()
    await lock(session, workspace_id)
    waiting = await queued(session, workspace_id)
    if not waiting:
        return []
    agents = await presence.agents(workspace_id)
    counts = await open_counts(session, workspace_id)
    teams = await _teams(session, workspace_id)
    taken: list[Conversation] = []
    for conv in waiting:
        user_id = _pick(agents, counts, teams, conv.team_id)
        if user_id is None:
            continue
        counts[user_id] = counts.get(user_id, 0) + 1
        await assign(session, conv, user_id=user_id, now=now)
        taken.append(conv)
    if taken:
        for conv in waiting:  # the queue moved: everyone waiting hears their new place
            await announce(session, conv)
    return taken


async def refresh_presence(session: AsyncSession, workspace_id: int, presence: Presence) -> None:
    """Write the true open-chat counts and queue length into presence, which the rules read."""
    counts = await open_counts(session, workspace_id)
    for agent in await presence.agents(workspace_id):
        active = counts.get(agent.user_id, 0)
        if active != agent.active:
            await presence.set_agent(
                workspace_id, AgentState(agent.user_id, agent.status, agent.capacity, active)
            )
    await presence.set_queue(workspace_id, len(await queued(session, workspace_id)))

"""Agents' chat settings (capacity, team, online/away) and their presence while a console is open.

The database keeps what an agent chose; presence (memory or Redis, realtime.presence) says who is
connected right now, which is what routing and the rules read."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth.models import Membership, User
from kohtaamo.chat import events, routing
from kohtaamo.chat.models import DEFAULT_CAPACITY, ChatAgent, Team
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Invalid
from kohtaamo.realtime.presence import AgentState, Presence


async def settings_of(session: AsyncSession, workspace_id: int, user_id: int) -> ChatAgent:
    row = await session.get(ChatAgent, (workspace_id, user_id))
    if row is None:
        row = ChatAgent(
            workspace_id=workspace_id,
            user_id=user_id,
            capacity=DEFAULT_CAPACITY,
            status="online",
            team_id=None,
            updated_at=utcnow(),
        )
        session.add(row)
        await session.flush()
    return row


async def workspaces_of(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.execute(
        select(Membership.workspace_id).where(Membership.user_id == user_id)
    )
    return sorted(int(w) for w in rows.scalars())


async def come_online(
    session: AsyncSession, *, user_id: int, workspace_id: int, presence: Presence
) -> ChatAgent:
    """A console connected: enter presence with the agent's saved status; take queued chats."""
    row = await settings_of(session, workspace_id, user_id)
    counts = await routing.open_counts(session, workspace_id)
    await presence.set_agent(
        workspace_id, AgentState(user_id, row.status, row.capacity, counts.get(user_id, 0))
    )
    if row.status == "online":
        await routing.drain(session, workspace_id, presence=presence)
    events.publish_load(session, workspace_id)
    return row


async def update_settings(
    session: AsyncSession,
    *,
    user: User,
    workspace_id: int,
    presence: Presence,
    status: str | None = None,
    capacity: int | None = None,
    team_id: int | None = None,
    change_team: bool = False,
    connected: bool = True,
) -> ChatAgent:
    """Change status, capacity and (with `change_team`) the team; announced to the workspace."""
    row = await settings_of(session, workspace_id, user.id)
    if status is not None:
        row.status = status
    if capacity is not None:
        row.capacity = capacity
    if change_team:
        if team_id is not None:
            team = await session.get(Team, team_id)
            if team is None or team.workspace_id != workspace_id:
                raise Invalid("no such team in this workspace", field="team_id")
        row.team_id = team_id
    row.updated_at = utcnow()
    await session.flush()
    if connected:
        counts = await routing.open_counts(session, workspace_id)
        await presence.set_agent(
            workspace_id, AgentState(user.id, row.status, row.capacity, counts.get(user.id, 0))
        )
        if row.status == "online":
            await routing.drain(session, workspace_id, presence=presence)
    events.publish_load(session, workspace_id)
    events.announce_to_agents(
        session,
        workspace_id,
        {
            "type": "agent",
            "user_id": user.id,
            "name": user.name,
            "status": row.status,
            "capacity": row.capacity,
            "team_id": row.team_id,
            "connected": connected,
        },
    )
    return row


async def team_view(
    session: AsyncSession, workspace_id: int, presence: Presence
) -> list[dict[str, object]]:
    """Every member with their chat settings, live presence and open chats: the console's roster."""
    rows = await session.execute(
        select(User, ChatAgent)
        .join(Membership, Membership.user_id == User.id)
        .outerjoin(
            ChatAgent, (ChatAgent.user_id == User.id) & (ChatAgent.workspace_id == workspace_id)
        )
        .where(Membership.workspace_id == workspace_id)
        .order_by(User.name)
    )
    live = {a.user_id: a for a in await presence.agents(workspace_id)}
    counts = await routing.open_counts(session, workspace_id)
    out: list[dict[str, object]] = []
    for user, agent in rows.all():
        state = live.get(user.id)
        out.append(
            {
                "user_id": user.id,
                "name": user.name,
                "status": agent.status if agent else "online",
                "capacity": agent.capacity if agent else DEFAULT_CAPACITY,
                "team_id": agent.team_id if agent else None,
                "connected": state is not None,
                "open": counts.get(user.id, 0),
            }
        )
    return out

"""Teams: groups of agents a conversation can be forwarded to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.chat.models import Team
from kohtaamo.chat.schemas import TeamCreate
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Conflict


async def list_teams(session: AsyncSession, workspace_id: int) -> list[Team]:
    rows = await session.execute(
        select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name)
    )
    return list(rows.scalars())


async def create_team(session: AsyncSession, *, workspace_id: int, data: TeamCreate) -> Team:
    taken = await session.execute(
        select(Team.id).where(Team.workspace_id == workspace_id, Team.name == data.name)
    )
    if taken.first() is not None:
        raise Conflict(f"a team named {data.name} already exists", field="name")
    team = Team(workspace_id=workspace_id, name=data.name, created_at=utcnow())
    session.add(team)
    await session.flush()
    return team

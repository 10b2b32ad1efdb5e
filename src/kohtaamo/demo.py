"""The demo workspace and its staff logins; idempotent, so `kohtaamo demo` can run again and again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.chat import agents, canned, teams
from kohtaamo.chat.schemas import TeamCreate
from kohtaamo.commerce.models import Order
from kohtaamo.config import Settings
from kohtaamo.rules import service as rules
from kohtaamo.shops import service as shops
from kohtaamo.shops.models import Workspace
from kohtaamo.shops.schemas import WorkspaceCreate

LOGINS = (
    ("owner@demo.kohtaamo.fi", "kohtaamo-demo", "owner", "Olli Omistaja", "fi"),
    ("agent@demo.kohtaamo.fi", "kohtaamo-demo", "agent", "Aino Asiakaspalvelija", "fi"),
    ("eero@demo.kohtaamo.fi", "kohtaamo-demo", "agent", "Eero Esimerkki", "fi"),
)
# Teams and, for the simulated history, how each agent works (kohtaamo.simulate.script).
TEAMS = {
    "Myynti": ("agent@demo.kohtaamo.fi", "owner@demo.kohtaamo.fi"),
    "Tuki": ("eero@demo.kohtaamo.fi",),
}
STYLES = {
    "agent@demo.kohtaamo.fi": "closer",
    "owner@demo.kohtaamo.fi": "helper",
    "eero@demo.kohtaamo.fi": "slow",
}
HOLDOUT = 0.5  # a demo shop wants its reports to judge rules within a month (docs/demo.md)


@dataclass
class DemoInfo:
    workspace_id: int
    site_key: str
    logins: list[tuple[str, str, str]]
    has_history: bool = False  # orders exist: the simulated month was played already


async def seed(session: AsyncSession, settings: Settings) -> DemoInfo:
    ws = (
        await session.execute(select(Workspace).where(Workspace.name == "Demo"))
    ).scalar_one_or_none()
    if ws is None:
        ws = await shops.create_workspace(
            session,
            data=WorkspaceCreate(
                name="Demo", allowed_origins=[settings.public_base_url], locale="fi"
            ),
            owner=None,
        )
    for email, password, role, name, locale in LOGINS:
        user = await auth.get_user_by_email(session, email)
        if user is None:
            user = await auth.create_user(
                session, email=email, name=name, password=password, locale=locale
            )
        if await auth.role_in(session, user_id=user.id, workspace_id=ws.id) is None:
            await auth.add_member(session, workspace_id=ws.id, user=user, role=Role(role))
    users = {}
    for email, *_ in LOGINS:
        found = await auth.get_user_by_email(session, email)
        assert found is not None
        users[email] = found
    existing = {t.name: t for t in await teams.list_teams(session, ws.id)}
    for name, members in TEAMS.items():
        team = existing.get(name) or await teams.create_team(
            session, workspace_id=ws.id, data=TeamCreate(name=name)
        )
        for email in members:
            row = await agents.settings_of(session, ws.id, users[email].id)
            row.team_id = row.team_id or team.id
    # Every ready template: the ten problem moments and the sales stages (skips installed ones).
    made = await rules.install_templates(session, workspace_id=ws.id, slugs=None, locale=ws.locale)
    for rule in made:
        rule.holdout_share = HOLDOUT
        # Which arm a visitor lands in hashes the rule's seed: a fixed seed per template makes
        # the demo's simulated month (and so its verdicts) the same on every machine.
        rule.seed = hashlib.sha256(f"kohtaamo-demo:{rule.template}".encode()).hexdigest()[:16]
    await session.flush()
    await canned.install_starters(session, ws.id)
    orders = await session.scalar(
        select(func.count()).select_from(Order).where(Order.workspace_id == ws.id)
    )
    return DemoInfo(ws.id, ws.site_key, [(e, p, r) for e, p, r, _, _ in LOGINS], bool(orders))

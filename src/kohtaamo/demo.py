"""The demo workspace and its staff logins; idempotent, so `kohtaamo demo` can run again and again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.chat import canned
from kohtaamo.config import Settings
from kohtaamo.rules import service as rules
from kohtaamo.shops import service as shops
from kohtaamo.shops.models import Workspace
from kohtaamo.shops.schemas import WorkspaceCreate

LOGINS = (
    ("owner@demo.kohtaamo.fi", "kohtaamo-demo", "owner", "Olli Omistaja", "fi"),
    ("agent@demo.kohtaamo.fi", "kohtaamo-demo", "agent", "Aino Asiakaspalvelija", "fi"),
)


@dataclass
class DemoInfo:
    workspace_id: int
    site_key: str
    logins: list[tuple[str, str, str]]


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
    # Every ready template: the ten problem moments and the sales stages (skips installed ones).
    await rules.install_templates(session, workspace_id=ws.id, slugs=None, locale=ws.locale)
    await canned.install_starters(session, ws.id)
    return DemoInfo(ws.id, ws.site_key, [(e, p, r) for e, p, r, _, _ in LOGINS])

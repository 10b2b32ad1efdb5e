"""Workspaces and their keys. Every write flushes and publishes; the caller's transaction commits."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Membership, Role, User
from kohtaamo.bus import Event, publish
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import NotFound
from kohtaamo.kit.tokens import new_token, token_hash
from kohtaamo.shops.models import ApiKey, Workspace
from kohtaamo.shops.schemas import WorkspaceCreate, WorkspaceUpdate

SITE_KEY_PREFIX = "ks"
API_KEY_PREFIX = "ksk"


@dataclass(frozen=True, slots=True)
class WorkspaceChanged(Event):
    """Settings or keys changed: caches of site and API keys must forget this workspace."""


async def create_workspace(
    session: AsyncSession, *, data: WorkspaceCreate, owner: User | None
) -> Workspace:
    ws = Workspace(
        name=data.name.strip(),
        site_key=new_token(SITE_KEY_PREFIX, 12),
        allowed_origins=list(data.allowed_origins),
        timezone=data.timezone,
        locale=data.locale,
        currency=data.currency,
        created_at=utcnow(),
    )
    session.add(ws)
    await session.flush()
    if owner is not None:
        await auth.add_member(session, workspace_id=ws.id, user=owner, role=Role.owner)
    publish(session, WorkspaceChanged(workspace_id=ws.id))
    return ws


async def get_workspace(session: AsyncSession, workspace_id: int) -> Workspace:
    ws = await session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound("no such workspace", field="workspace_id")
    return ws


async def workspaces_of(session: AsyncSession, user_id: int) -> list[tuple[Workspace, str]]:
    stmt = (
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.name, Workspace.id)
    )
    return [(w, r) for w, r in (await session.execute(stmt)).all()]


async def names_of(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(Workspace.id, Workspace.name).where(Workspace.id.in_(ids))
    return {row.id: row.name for row in (await session.execute(stmt)).all()}


async def update_workspace(
    session: AsyncSession, *, workspace: Workspace, data: WorkspaceUpdate
) -> Workspace:
    for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(workspace, field, value)
    await session.flush()
    publish(session, WorkspaceChanged(workspace_id=workspace.id))
    return workspace


async def rotate_site_key(session: AsyncSession, *, workspace: Workspace) -> Workspace:
    workspace.site_key = new_token(SITE_KEY_PREFIX, 12)
    await session.flush()
    publish(session, WorkspaceChanged(workspace_id=workspace.id))
    return workspace


async def set_identity_secret(session: AsyncSession, *, workspace: Workspace) -> str:
    """Turn identity verification on (or rotate its secret): from now on `identify` must be
    signed with the returned secret."""
    secret = secrets.token_hex(32)
    workspace.identity_secret = secret
    await session.flush()
    publish(session, WorkspaceChanged(workspace_id=workspace.id))
    return secret


async def clear_identity_secret(session: AsyncSession, *, workspace: Workspace) -> Workspace:
    workspace.identity_secret = None
    await session.flush()
    publish(session, WorkspaceChanged(workspace_id=workspace.id))
    return workspace


async def create_api_key(
    session: AsyncSession, *, workspace_id: int, name: str, created_by: int | None
) -> tuple[ApiKey, str]:
    secret = new_token(API_KEY_PREFIX, 32)
    key = ApiKey(
        workspace_id=workspace_id,
        name=name.strip(),
        prefix=secret[:10],
        key_hash=token_hash(secret),
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    publish(session, WorkspaceChanged(workspace_id=workspace_id))
    return key, secret


async def list_api_keys(session: AsyncSession, workspace_id: int) -> Sequence[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.id)
    return (await session.execute(stmt)).scalars().all()


async def revoke_api_key(session: AsyncSession, *, workspace_id: int, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None or key.workspace_id != workspace_id:
        raise NotFound("no such API key", field="key_id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        publish(session, WorkspaceChanged(workspace_id=workspace_id))
    return key

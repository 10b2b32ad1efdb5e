from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kohtaamo.auth import service as auth
from kohtaamo.auth.dependencies import AdminAccess, CurrentPrincipal, MemberAccess, OwnerAccess
from kohtaamo.auth.models import Role
from kohtaamo.auth.schemas import (
    MemberCreate,
    MemberRead,
    MembershipRead,
    MemberUpdate,
    MeRead,
)
from kohtaamo.kit.errors import Forbidden, NotFound
from kohtaamo.shops import service
from kohtaamo.shops.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    WorkspaceCreate,
    WorkspaceRead,
    WorkspaceUpdate,
)
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1", tags=["workspaces"])
KeyId = Annotated[int, Path(ge=1)]
UserId = Annotated[int, Path(ge=1)]


@router.get("/me")
async def me(principal: CurrentPrincipal, db: DB) -> MeRead:
    user = principal.user
    rows = await service.workspaces_of(db, user.id)
    return MeRead(
        id=user.id,
        email=user.email,
        name=user.name,
        locale=user.locale,
        memberships=[
            MembershipRead(workspace_id=w.id, workspace_name=w.name, role=r) for w, r in rows
        ],
    )


@router.get("/workspaces")
async def list_workspaces(principal: CurrentPrincipal, db: DB) -> list[WorkspaceRead]:
    return [
        WorkspaceRead.model_validate(w)
        for w, _ in await service.workspaces_of(db, principal.user.id)
    ]


@router.post("/workspaces", status_code=201)
async def create_workspace(
    body: WorkspaceCreate, principal: CurrentPrincipal, db: DB
) -> WorkspaceRead:
    ws = await service.create_workspace(db, data=body, owner=principal.user)
    return WorkspaceRead.model_validate(ws)


@router.get("/workspaces/{workspace_id}")
async def get_workspace(access: MemberAccess, db: DB) -> WorkspaceRead:
    return WorkspaceRead.model_validate(await service.get_workspace(db, access.workspace_id))


@router.patch("/workspaces/{workspace_id}")
async def update_workspace(body: WorkspaceUpdate, access: AdminAccess, db: DB) -> WorkspaceRead:
    ws = await service.get_workspace(db, access.workspace_id)
    return WorkspaceRead.model_validate(await service.update_workspace(db, workspace=ws, data=body))


@router.post("/workspaces/{workspace_id}/site-key/rotate")
async def rotate_site_key(access: OwnerAccess, db: DB) -> WorkspaceRead:
    ws = await service.get_workspace(db, access.workspace_id)
    return WorkspaceRead.model_validate(await service.rotate_site_key(db, workspace=ws))


@router.get("/workspaces/{workspace_id}/api-keys")
async def list_api_keys(access: AdminAccess, db: DB) -> list[ApiKeyRead]:
    return [
        ApiKeyRead.model_validate(k) for k in await service.list_api_keys(db, access.workspace_id)
    ]


@router.post("/workspaces/{workspace_id}/api-keys", status_code=201)
async def create_api_key(body: ApiKeyCreate, access: AdminAccess, db: DB) -> ApiKeyCreated:
    key, secret = await service.create_api_key(
        db, workspace_id=access.workspace_id, name=body.name, created_by=access.principal.user.id
    )
    return ApiKeyCreated(secret=secret, **ApiKeyRead.model_validate(key).model_dump())


@router.delete("/workspaces/{workspace_id}/api-keys/{key_id}")
async def revoke_api_key(key_id: KeyId, access: AdminAccess, db: DB) -> ApiKeyRead:
    key = await service.revoke_api_key(db, workspace_id=access.workspace_id, key_id=key_id)
    return ApiKeyRead.model_validate(key)


@router.get("/workspaces/{workspace_id}/members")
async def list_members(access: MemberAccess, db: DB) -> list[MemberRead]:
    rows = await auth.list_members(db, access.workspace_id)
    return [MemberRead(user_id=u.id, email=u.email, name=u.name, role=m.role) for m, u in rows]


@router.post("/workspaces/{workspace_id}/members", status_code=201)
async def add_member(body: MemberCreate, access: AdminAccess, db: DB) -> MemberRead:
    role = Role(body.role)
    if role == Role.owner and access.role != Role.owner:
        raise Forbidden("only an owner can add an owner", field="role")
    user = await auth.get_user_by_email(db, body.email)
    if user is None:
        raise NotFound("no staff user with this email; create the user first", field="email")
    member = await auth.add_member(db, workspace_id=access.workspace_id, user=user, role=role)
    return MemberRead(user_id=user.id, email=user.email, name=user.name, role=member.role)


@router.patch("/workspaces/{workspace_id}/members/{user_id}")
async def update_member(
    user_id: UserId, body: MemberUpdate, access: AdminAccess, db: DB
) -> MemberRead:
    current = await auth.role_in(db, user_id=user_id, workspace_id=access.workspace_id)
    if current is None:
        raise NotFound("no such member", field="user_id")
    if Role.owner in (current, Role(body.role)) and access.role != Role.owner:
        raise Forbidden("only an owner can grant or take the owner role", field="role")
    member = await auth.change_role(
        db, workspace_id=access.workspace_id, user_id=user_id, role=Role(body.role)
    )
    rows = {u.id: u for _, u in await auth.list_members(db, access.workspace_id)}
    user = rows[user_id]
    return MemberRead(user_id=user.id, email=user.email, name=user.name, role=member.role)


@router.delete("/workspaces/{workspace_id}/members/{user_id}", status_code=204)
async def remove_member(user_id: UserId, access: AdminAccess, db: DB) -> None:
    current = await auth.role_in(db, user_id=user_id, workspace_id=access.workspace_id)
    if current is None:
        raise NotFound("no such member", field="user_id")
    if current == Role.owner and access.role != Role.owner:
        raise Forbidden("only an owner can remove an owner", field="user_id")
    await auth.remove_member(db, workspace_id=access.workspace_id, user_id=user_id)

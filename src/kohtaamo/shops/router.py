from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kohtaamo.auth import invitations
from kohtaamo.auth import service as auth
from kohtaamo.auth.dependencies import AdminAccess, CurrentPrincipal, MemberAccess, OwnerAccess
from kohtaamo.auth.models import Role
from kohtaamo.auth.schemas import (
    InvitationCreate,
    InvitationRead,
    MemberRead,
    MembershipRead,
    MemberUpdate,
    MeRead,
    MyInvitationRead,
)
from kohtaamo.kit.errors import Forbidden, NotFound
from kohtaamo.shops import service
from kohtaamo.shops.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    IdentitySecretRead,
    WorkspaceCreate,
    WorkspaceRead,
    WorkspaceUpdate,
)
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1", tags=["workspaces"])
KeyId = Annotated[int, Path(ge=1)]
UserId = Annotated[int, Path(ge=1)]
InvitationId = Annotated[int, Path(ge=1)]


@router.get("/me")
async def me(principal: CurrentPrincipal, db: DB) -> MeRead:
    user = principal.user
    rows = await service.workspaces_of(db, user.id)
    offers = await invitations.open_for_user(db, user)
    names = await service.names_of(db, {i.workspace_id for i in offers})
    return MeRead(
        id=user.id,
        email=user.email,
        name=user.name,
        locale=user.locale,
        memberships=[
            MembershipRead(workspace_id=w.id, workspace_name=w.name, role=r) for w, r in rows
        ],
        invitations=[
            MyInvitationRead(
                id=i.id,
                workspace_id=i.workspace_id,
                role=i.role,
                workspace_name=names.get(i.workspace_id, ""),
                expires_at=i.expires_at,
            )
            for i in offers
        ],
    )


@router.post("/invitations/{invitation_id}/accept")
async def accept_invitation(
    invitation_id: InvitationId, principal: CurrentPrincipal, db: DB
) -> MembershipRead:
    await invitations.accept(db, invitation_id=invitation_id, user=principal.user)
    rows = {w.id: (w, r) for w, r in await service.workspaces_of(db, principal.user.id)}
    inv = await db.get(invitations.Invitation, invitation_id)
    assert inv is not None
    ws, role = rows[inv.workspace_id]
    return MembershipRead(workspace_id=ws.id, workspace_name=ws.name, role=role)


@router.post("/invitations/{invitation_id}/decline", status_code=204)
async def decline_invitation(
    invitation_id: InvitationId, principal: CurrentPrincipal, db: DB
) -> None:
    await invitations.decline(db, invitation_id=invitation_id, user=principal.user)


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


@router.post("/workspaces/{workspace_id}/identity-secret", status_code=201)
async def set_identity_secret(access: OwnerAccess, db: DB) -> IdentitySecretRead:
    """Turn signed identify on, or rotate its secret; the secret is shown this once."""
    ws = await service.get_workspace(db, access.workspace_id)
    return IdentitySecretRead(secret=await service.set_identity_secret(db, workspace=ws))


@router.delete("/workspaces/{workspace_id}/identity-secret")
async def clear_identity_secret(access: OwnerAccess, db: DB) -> WorkspaceRead:
    ws = await service.get_workspace(db, access.workspace_id)
    return WorkspaceRead.model_validate(await service.clear_identity_secret(db, workspace=ws))


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


@router.post("/workspaces/{workspace_id}/invitations", status_code=202)
async def invite(body: InvitationCreate, access: AdminAccess, db: DB) -> InvitationRead:
    """Offer a role to an email. The answer is the same whether or not anyone has that email;
    the person sees the invitation in `GET /me` when they log in and accepts it there."""
    role = Role(body.role)
    if role == Role.owner and access.role != Role.owner:
        raise Forbidden("only an owner can invite an owner", field="role")
    inv = await invitations.invite(
        db,
        workspace_id=access.workspace_id,
        email=body.email,
        role=role,
        invited_by=access.principal.user.id,
    )
    return InvitationRead.model_validate(inv)


@router.get("/workspaces/{workspace_id}/invitations")
async def list_invitations(access: AdminAccess, db: DB) -> list[InvitationRead]:
    rows = await invitations.open_for_workspace(db, access.workspace_id)
    return [InvitationRead.model_validate(i) for i in rows]


@router.delete("/workspaces/{workspace_id}/invitations/{invitation_id}", status_code=204)
async def withdraw_invitation(invitation_id: InvitationId, access: AdminAccess, db: DB) -> None:
    await invitations.withdraw(db, workspace_id=access.workspace_id, invitation_id=invitation_id)


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

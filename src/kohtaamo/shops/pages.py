"""Workspace pages: the list, settings, embed snippet, API keys and the team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from kohtaamo.auth import invitations
from kohtaamo.auth import service as auth
from kohtaamo.auth.dependencies import optional_principal
from kohtaamo.auth.models import Role
from kohtaamo.auth.schemas import InvitationCreate
from kohtaamo.auth.service import Principal
from kohtaamo.kit.errors import NotFound
from kohtaamo.shops import service
from kohtaamo.shops.schemas import WorkspaceCreate, WorkspaceUpdate
from kohtaamo.web.deps import DB
from kohtaamo.web.flash import pop_flash, set_flash
from kohtaamo.web.templates import render

router = APIRouter(include_in_schema=False)
WsId = Annotated[int, Path(ge=1)]


async def _login(request: Request, db: DB) -> Principal | Response:
    principal = await optional_principal(request, db)
    if principal is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return principal


@router.get("/workspaces")
async def workspaces(request: Request, db: DB) -> Response:
    p = await _login(request, db)
    if isinstance(p, Response):
        return p
    return await _list(request, db, p)


async def _list(
    request: Request, db: DB, p: Principal, status: int = 200, error: str | None = None
) -> Response:
    rows = await service.workspaces_of(db, p.user.id)
    offers = await invitations.open_for_user(db, p.user)
    names = await service.names_of(db, {i.workspace_id for i in offers})
    return render(
        request,
        "workspaces.html",
        status,
        user=p.user,
        csrf=p.auth.csrf_token,
        rows=rows,
        offers=[(i, names.get(i.workspace_id, "")) for i in offers],
        error=error,
    )


@router.post("/workspaces")
async def create(request: Request, db: DB, name: Annotated[str, Form(max_length=200)]) -> Response:
    p = await _login(request, db)
    if isinstance(p, Response):
        return p
    try:
        data = WorkspaceCreate(name=name)
    except ValidationError as exc:
        return await _list(request, db, p, 422, error=exc.errors()[0]["msg"])
    ws = await service.create_workspace(db, data=data, owner=p.user)
    return RedirectResponse(f"/workspaces/{ws.id}", status_code=303)


async def _detail(
    request: Request, db: DB, p: Principal, ws_id: int, status: int = 200, **extra: object
) -> Response:
    role = await auth.role_in(db, user_id=p.user.id, workspace_id=ws_id)
    if role is None:
        raise NotFound("no such workspace", field="workspace_id")
    ws = await service.get_workspace(db, ws_id)
    keys = await service.list_api_keys(db, ws_id) if role.at_least(Role.admin) else []
    members = await auth.list_members(db, ws_id)
    offers = await invitations.open_for_workspace(db, ws_id) if role.at_least(Role.admin) else []
    base = str(request.app.state.settings.public_base_url)
    ctx: dict[str, object] = {
        "user": p.user,
        "csrf": p.auth.csrf_token,
        "ws": ws,
        "role": role,
        "keys": keys,
        "members": members,
        "offers": offers,
        "base_url": base,
        "is_admin": role.at_least(Role.admin),
        "error": None,
        "notice": None,
        "new_secret": None,
        "replace_url": None,
    }
    ctx.update(extra)
    return render(request, "workspace.html", status, **ctx)


@router.get("/workspaces/{ws_id}")
async def detail(ws_id: WsId, request: Request, db: DB) -> Response:
    p = await _login(request, db)
    if isinstance(p, Response):
        return p
    carrier = Response()
    flash = pop_flash(request, carrier, _path(ws_id))
    response = await _detail(request, db, p, ws_id, notice=flash.get("notice"))
    response.raw_headers.extend(h for h in carrier.raw_headers if h[0] == b"set-cookie")
    return response


def _path(ws_id: int) -> str:
    return f"/workspaces/{ws_id}"


def _back(ws_id: int, anchor: str = "", **flash: str) -> RedirectResponse:
    response = RedirectResponse(_path(ws_id) + anchor, status_code=303)
    if flash:
        set_flash(response, _path(ws_id), **flash)
    return response


async def _admin(request: Request, db: DB, ws_id: int) -> Principal | Response:
    p = await _login(request, db)
    if isinstance(p, Response):
        return p
    role = await auth.role_in(db, user_id=p.user.id, workspace_id=ws_id)
    if role is None:
        raise NotFound("no such workspace", field="workspace_id")
    if not role.at_least(Role.admin):
        return await _detail(request, db, p, ws_id, 403, error="admin role needed")
    return p


@router.post("/workspaces/{ws_id}/settings")
async def save_settings(
    ws_id: WsId,
    request: Request,
    db: DB,
    name: Annotated[str, Form(max_length=200)],
    allowed_origins: Annotated[str, Form(max_length=10_000)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "Europe/Helsinki",
    locale: Annotated[str, Form(max_length=2)] = "fi",
    currency: Annotated[str, Form(max_length=3)] = "EUR",
) -> Response:
    p = await _admin(request, db, ws_id)
    if isinstance(p, Response):
        return p
    origins = [line.strip() for line in allowed_origins.splitlines() if line.strip()]
    try:
        data = WorkspaceUpdate(
            name=name,
            allowed_origins=origins,
            timezone=timezone,
            locale=locale,
            currency=currency.upper(),
        )
    except ValidationError as exc:
        e = exc.errors()[0]
        return await _detail(request, db, p, ws_id, 422, error=f"{e['loc'][0]}: {e['msg']}")
    ws = await service.get_workspace(db, ws_id)
    await service.update_workspace(db, workspace=ws, data=data)
    return _back(ws_id, notice="ws.saved")


@router.post("/workspaces/{ws_id}/api-keys")
async def new_key(
    ws_id: WsId, request: Request, db: DB, name: Annotated[str, Form(min_length=1, max_length=120)]
) -> Response:
    p = await _admin(request, db, ws_id)
    if isinstance(p, Response):
        return p
    _, secret = await service.create_api_key(
        db, workspace_id=ws_id, name=name, created_by=p.user.id
    )
    # The secret is shown in this answer only: never stored, never cached, never in a cookie.
    # The page swaps its URL for the GET one, so a reload shows the page without it.
    response = await _detail(request, db, p, ws_id, new_secret=secret, replace_url=_path(ws_id))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/workspaces/{ws_id}/api-keys/{key_id}/revoke")
async def revoke_key(
    ws_id: WsId, key_id: Annotated[int, Path(ge=1)], request: Request, db: DB
) -> Response:
    p = await _admin(request, db, ws_id)
    if isinstance(p, Response):
        return p
    await service.revoke_api_key(db, workspace_id=ws_id, key_id=key_id)
    return _back(ws_id, "#keys")


@router.post("/workspaces/{ws_id}/invitations")
async def invite(
    ws_id: WsId,
    request: Request,
    db: DB,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[str, Form(pattern="^(admin|agent)$")] = "agent",
) -> Response:
    p = await _admin(request, db, ws_id)
    if isinstance(p, Response):
        return p
    try:
        data = InvitationCreate(email=email, role=role)
    except ValidationError as exc:
        return await _detail(request, db, p, ws_id, 422, error=f"{email}: {exc.errors()[0]['msg']}")
    await invitations.invite(
        db, workspace_id=ws_id, email=data.email, role=Role(data.role), invited_by=p.user.id
    )
    return _back(ws_id, "#team", notice="ws.invited")


@router.post("/workspaces/{ws_id}/invitations/{inv_id}/withdraw")
async def withdraw(
    ws_id: WsId, inv_id: Annotated[int, Path(ge=1)], request: Request, db: DB
) -> Response:
    p = await _admin(request, db, ws_id)
    if isinstance(p, Response):
        return p
    await invitations.withdraw(db, workspace_id=ws_id, invitation_id=inv_id)
    return _back(ws_id, "#team")


@router.post("/invitations/{inv_id}/{answer}")
async def answer_invitation(
    inv_id: Annotated[int, Path(ge=1)],
    answer: Annotated[str, Path(pattern="^(accept|decline)$")],
    request: Request,
    db: DB,
) -> Response:
    p = await _login(request, db)
    if isinstance(p, Response):
        return p
    if answer == "accept":
        inv = await db.get(invitations.Invitation, inv_id)
        await invitations.accept(db, invitation_id=inv_id, user=p.user)
        assert inv is not None
        return RedirectResponse(_path(inv.workspace_id), status_code=303)
    await invitations.decline(db, invitation_id=inv_id, user=p.user)
    return RedirectResponse("/workspaces", status_code=303)

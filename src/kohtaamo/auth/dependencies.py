"""Who is calling, and what they may touch. Non-members get 404, so workspaces can't be probed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from kohtaamo.auth import service
from kohtaamo.auth.models import Role
from kohtaamo.auth.service import Principal
from kohtaamo.kit.errors import Forbidden, NotFound, Unauthorized
from kohtaamo.kit.tokens import same
from kohtaamo.web.deps import DB

SESSION_COOKIE = "kohtaamo_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def optional_principal(request: Request, db: DB) -> Principal | None:
    authz = request.headers.get("authorization")
    if authz:
        scheme, _, token = authz.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        principal = await service.resolve(db, token.strip(), kind="bearer")
        if principal is None:
            raise Unauthorized("the bearer token is invalid, expired or revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    principal = await service.resolve(db, cookie, kind="cookie")
    if principal is None:
        return None
    if request.method not in SAFE_METHODS and not await _csrf_ok(request, principal):
        raise Forbidden("missing or wrong CSRF token", field="csrf_token")
    return principal


async def _csrf_ok(request: Request, principal: Principal) -> bool:
    expected = principal.auth.csrf_token or ""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    return bool(expected) and sent is not None and same(sent, expected)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required: a bearer token or a session cookie")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@dataclass(slots=True)
class Access:
    workspace_id: int
    role: Role
    principal: Principal


async def _access(
    workspace_id: Annotated[int, Path(ge=1)], principal: CurrentPrincipal, db: DB
) -> Access:
    role = await service.role_in(db, user_id=principal.user.id, workspace_id=workspace_id)
    if role is None:
        raise NotFound("no such workspace", field="workspace_id")
    return Access(workspace_id=workspace_id, role=role, principal=principal)


def _needs(minimum: Role):  # type: ignore[no-untyped-def]
    async def check(access: Annotated[Access, Depends(_access)]) -> Access:
        if not access.role.at_least(minimum):
            raise Forbidden(f"needs the {minimum.value} role in this workspace")
        return access

    return check


MemberAccess = Annotated[Access, Depends(_needs(Role.agent))]
AdminAccess = Annotated[Access, Depends(_needs(Role.admin))]
OwnerAccess = Annotated[Access, Depends(_needs(Role.owner))]


async def page_member(request: Request, db: DB, ws_id: int) -> tuple[Principal, Role] | Response:
    """For HTML pages: the signed-in member and their role, or a redirect to the login page.
    Non-members get 404, as in the API."""
    p = await optional_principal(request, db)
    if p is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    role = await service.role_in(db, user_id=p.user.id, workspace_id=ws_id)
    if role is None:
        raise NotFound("no such workspace", field="workspace_id")
    return p, role

from __future__ import annotations

from fastapi import APIRouter, Request

from kohtaamo.auth import service
from kohtaamo.auth.dependencies import CurrentPrincipal
from kohtaamo.auth.schemas import TokenCreate, TokenRead
from kohtaamo.kit.errors import BadRequest, Unauthorized
from kohtaamo.web.deps import DB, AppSettings

router = APIRouter(prefix="/api/v1", tags=["auth"])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/token", status_code=201)
async def create_token(
    body: TokenCreate, request: Request, db: DB, settings: AppSettings
) -> TokenRead:
    await service.throttle_login(
        request.app.state.limiter,
        ip=client_ip(request),
        email=body.email,
        attempts=settings.login_attempts_per_window,
        window_seconds=settings.login_window_seconds,
    )
    user = await service.authenticate(db, email=body.email, password=body.password)
    if user is None:
        raise Unauthorized("wrong email or password", field="password")
    token, row = await service.start_session(
        db, user=user, kind="bearer", days=settings.token_days, label=body.label
    )
    return TokenRead(access_token=token, expires_at=row.expires_at)


@router.delete("/auth/token", status_code=204)
async def revoke_token(principal: CurrentPrincipal, db: DB) -> None:
    if principal.auth.kind != "bearer":
        raise BadRequest("only a bearer token can be revoked here; log out to end a session")
    await service.end_session(db, principal.auth)

"""The agent console (inbox) and the canned-replies page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from kohtaamo.auth import service as auth
from kohtaamo.auth.dependencies import page_member
from kohtaamo.auth.models import Role, User
from kohtaamo.auth.service import Principal
from kohtaamo.bus import publish
from kohtaamo.chat import agents, canned, teams, texts
from kohtaamo.chat.schemas import (
    AgentUpdate,
    CannedReplyCreate,
    CannedReplyUpdate,
    TeamCreate,
    WidgetSettings,
)
from kohtaamo.kit import jsonx
from kohtaamo.kit.errors import AppError, NotFound
from kohtaamo.shops.service import WorkspaceChanged, get_workspace
from kohtaamo.web.deps import DB
from kohtaamo.web.flash import pop_flash, set_flash
from kohtaamo.web.templates import locale_of, render

router = APIRouter(include_in_schema=False)
WsId = Annotated[int, Path(ge=1)]


@router.get("/workspaces/{ws_id}/inbox")
async def inbox(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    ws = await get_workspace(db, ws_id)
    me = await agents.settings_of(db, ws_id, p.user.id)
    board = request.app.state.chat
    roster = await agents.team_view(db, ws_id, board.presence)
    team_rows = await teams.list_teams(db, ws_id)
    replies = await canned.list_replies(db, ws_id)
    locale = locale_of(request)
    boot = {
        "workspace_id": ws_id,
        "user_id": p.user.id,
        "name": p.user.name,
        "csrf": p.auth.csrf_token,
        "locale": locale,
        "currency": ws.currency,
        "status": me.status,
        "capacity": me.capacity,
        "agents": roster,
        "teams": [{"id": t.id, "name": t.name} for t in team_rows],
        "canned": [
            {"shortcut": r.shortcut, "locale": r.locale, "title": r.title, "body": r.body}
            for r in replies
        ],
        "texts": texts.for_script(locale),
        "open": request.query_params.get("c"),
    }
    return render(
        request,
        "inbox.html",
        user=p.user,
        csrf=p.auth.csrf_token,
        ws=ws,
        role=role,
        me=me,
        # Inside <script type="application/json">, "<" as \u003c: no text can end the element.
        boot=jsonx.dumps(boot).decode().replace("<", "\\u003c"),
        wide=True,
    )


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The first problem of a form: its field path and a message naming it."""
    err = exc.errors()[0]
    name = ".".join(str(x) for x in err["loc"]) or "form"
    return name, f"{name}: {err['msg']}"


def _canned_path(ws_id: int) -> str:
    return f"/workspaces/{ws_id}/canned-replies"


@router.get("/workspaces/{ws_id}/canned-replies")
async def canned_page(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    return await _render_canned(request, db, ws_id, *m)


async def _render_canned(
    request: Request,
    db: DB,
    ws_id: int,
    p: Principal,
    role: Role,
    status: int = 200,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    carrier = Response()
    flash = pop_flash(request, carrier, _canned_path(ws_id))
    response = render(
        request,
        "canned.html",
        status,
        user=p.user,
        csrf=p.auth.csrf_token,
        ws=await get_workspace(db, ws_id),
        is_admin=role.at_least(Role.admin),
        replies=await canned.list_replies(db, ws_id),
        flash=flash,
        error=error,
        field=field,
        values=values or {},
    )
    response.raw_headers.extend(h for h in carrier.raw_headers if h[0] == b"set-cookie")
    return response


@router.post("/workspaces/{ws_id}/canned-replies")
async def canned_create(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    if not role.at_least(Role.admin):
        return await _render_canned(request, db, ws_id, p, role, 403, error="canned.admins")
    form = await request.form()
    if form.get("starters"):
        await canned.install_starters(db, ws_id)
        response = RedirectResponse(_canned_path(ws_id), status_code=303)
        set_flash(response, _canned_path(ws_id), notice="canned.saved")
        return response
    values = {k: str(form.get(k) or "") for k in ("shortcut", "locale", "title", "body")}
    try:
        data = CannedReplyCreate.model_validate(values)
        await canned.create_reply(db, workspace_id=ws_id, data=data)
    except ValidationError as exc:
        name, message = _first_error(exc)
        return await _render_canned(
            request,
            db,
            ws_id,
            p,
            role,
            422,
            error=message,
            field=name,
            values=values,
        )
    except AppError as exc:
        return await _render_canned(
            request,
            db,
            ws_id,
            p,
            role,
            exc.status,
            error=exc.message,
            field=exc.field,
            values=values,
        )
    response = RedirectResponse(_canned_path(ws_id), status_code=303)
    set_flash(response, _canned_path(ws_id), notice="canned.saved")
    return response


@router.post("/workspaces/{ws_id}/canned-replies/{reply_id}")
async def canned_change(
    ws_id: WsId, reply_id: Annotated[int, Path(ge=1)], request: Request, db: DB
) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    if not role.at_least(Role.admin):
        return await _render_canned(request, db, ws_id, p, role, 403, error="canned.admins")
    row = await canned.get_reply(db, ws_id, reply_id)
    form = await request.form()
    if form.get("delete"):
        await canned.delete_reply(db, row)
        notice = "canned.deleted"
    else:
        values = {k: str(form.get(k) or "") for k in ("shortcut", "title", "body")}
        try:
            await canned.update_reply(db, row, CannedReplyUpdate.model_validate(values))
        except ValidationError as exc:
            name, message = _first_error(exc)
            return await _render_canned(request, db, ws_id, p, role, 422, error=message, field=name)
        except AppError as exc:
            return await _render_canned(
                request, db, ws_id, p, role, exc.status, error=exc.message, field=exc.field
            )
        notice = "canned.saved"
    response = RedirectResponse(_canned_path(ws_id), status_code=303)
    set_flash(response, _canned_path(ws_id), notice=notice)
    return response


# --- chat settings: the widget, teams, agents' capacity and team --------------------------------


def _settings_path(ws_id: int) -> str:
    return f"/workspaces/{ws_id}/chat-settings"


async def _render_settings(
    request: Request,
    db: DB,
    ws_id: int,
    p: Principal,
    role: Role,
    status: int = 200,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    carrier = Response()
    flash = pop_flash(request, carrier, _settings_path(ws_id))
    ws = await get_workspace(db, ws_id)
    widget = ws.widget or {}
    patterns = "\n".join(f"{x['pattern']} {x['type']}" for x in widget.get("page_patterns") or [])
    response = render(
        request,
        "chat_settings.html",
        status,
        user=p.user,
        csrf=p.auth.csrf_token,
        ws=ws,
        is_admin=role.at_least(Role.admin),
        widget={
            "title": widget.get("title") or "",
            "color": widget.get("color") or "#0f766e",
            "patterns": patterns,
            "chat_auto_resolve_hours": str(ws.chat_auto_resolve_hours),
            **(values or {}),
        },
        teams=await teams.list_teams(db, ws_id),
        roster=await agents.team_view(db, ws_id, request.app.state.chat.presence),
        flash=flash,
        error=error,
        field=field,
    )
    response.raw_headers.extend(h for h in carrier.raw_headers if h[0] == b"set-cookie")
    return response


@router.get("/workspaces/{ws_id}/chat-settings")
async def chat_settings(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    return await _render_settings(request, db, ws_id, *m)


def _patterns(text: str) -> list[dict[str, str]]:
    """Lines "PATTERN TYPE", e.g. "/tuotteet/* product"."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        pattern, _, kind = line.strip().rpartition(" ")
        out.append({"pattern": pattern.strip(), "type": kind.strip()})
    return out


@router.post("/workspaces/{ws_id}/chat-settings")
async def chat_settings_save(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    if not role.at_least(Role.admin):
        return await _render_settings(request, db, ws_id, p, role, 403, error="canned.admins")
    form = await request.form()
    what = str(form.get("what") or "")
    try:
        if what == "widget":
            keys = ("title", "color", "patterns", "chat_auto_resolve_hours")
            values = {k: str(form.get(k) or "").strip() for k in keys}
            try:
                data = WidgetSettings.model_validate(
                    {
                        "title": values["title"] or None,
                        "color": values["color"] or None,
                        "page_patterns": _patterns(values["patterns"]),
                        "chat_auto_resolve_hours": values["chat_auto_resolve_hours"] or None,
                    }
                )
            except ValidationError as exc:
                name, message = _first_error(exc)
                if name == "chat_auto_resolve_hours":
                    message = "chatset.auto_resolve.invalid"  # said in the page's language
                return await _render_settings(
                    request,
                    db,
                    ws_id,
                    p,
                    role,
                    422,
                    error=message,
                    field=name.split(".")[0],
                    values=values,
                )
            ws = await get_workspace(db, ws_id)
            ws.widget = data.model_dump(exclude={"chat_auto_resolve_hours"})
            if data.chat_auto_resolve_hours is not None:
                ws.chat_auto_resolve_hours = data.chat_auto_resolve_hours
            await db.flush()
            publish(db, WorkspaceChanged(workspace_id=ws_id))
        elif what == "team":
            data_t = TeamCreate.model_validate({"name": str(form.get("name") or "")})
            await teams.create_team(db, workspace_id=ws_id, data=data_t)
        elif what == "agent":
            user_id = int(str(form.get("user_id") or 0))
            team = str(form.get("team_id") or "")
            body = AgentUpdate.model_validate(
                {
                    "capacity": int(str(form.get("capacity") or 0)),
                    "team_id": int(team) if team else None,
                }
            )
            user = await db.get(User, user_id)
            if user is None or await auth.role_in(db, user_id=user_id, workspace_id=ws_id) is None:
                raise NotFound("no such agent in this workspace", field="user_id")
            live = {a.user_id for a in await request.app.state.chat.presence.agents(ws_id)}
            await agents.update_settings(
                db,
                user=user,
                workspace_id=ws_id,
                presence=request.app.state.chat.presence,
                capacity=body.capacity,
                team_id=body.team_id,
                change_team=True,
                connected=user_id in live,
            )
        else:
            raise AppError("unknown settings form", field="what")
    except ValidationError as exc:
        name, message = _first_error(exc)
        return await _render_settings(request, db, ws_id, p, role, 422, error=message, field=name)
    except (AppError, ValueError) as exc:
        message = exc.message if isinstance(exc, AppError) else "capacity: must be a number"
        status = exc.status if isinstance(exc, AppError) else 422
        return await _render_settings(request, db, ws_id, p, role, status, error=message)
    response = RedirectResponse(_settings_path(ws_id), status_code=303)
    set_flash(response, _settings_path(ws_id), notice="canned.saved")
    return response

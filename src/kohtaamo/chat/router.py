"""The chat's JSON API: conversations (inbox, search, assign, forward, close, export), canned
replies, teams, agents' settings; and the widget's public config."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from kohtaamo.auth.dependencies import AdminAccess, MemberAccess
from kohtaamo.auth.models import Role, User
from kohtaamo.bus import publish
from kohtaamo.chat import agents, canned, lifecycle, routing, service, teams, transcripts
from kohtaamo.chat.announce import announce
from kohtaamo.chat.events import iso
from kohtaamo.chat.models import Conversation
from kohtaamo.chat.queue import position
from kohtaamo.chat.schemas import (
    AgentRead,
    AgentUpdate,
    AssignRequest,
    CannedReplyCreate,
    CannedReplyRead,
    CannedReplyUpdate,
    ConversationPage,
    ConversationRead,
    ForwardCreate,
    MessageRead,
    TeamCreate,
    TeamRead,
    WidgetConfig,
    WidgetSettings,
)
from kohtaamo.chat.switchboard import Switchboard, snapshot_of
from kohtaamo.contacts.service import get_facts
from kohtaamo.kit import jsonx
from kohtaamo.kit.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from kohtaamo.rules.models import Rule
from kohtaamo.shops.models import Workspace
from kohtaamo.shops.service import WorkspaceChanged
from kohtaamo.web import i18n
from kohtaamo.web.deps import DB
from kohtaamo.web.templates import locale_of

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["chat"])
public = APIRouter(tags=["widget"])
ConvId = Annotated[int, Path(ge=1)]
ReplyId = Annotated[int, Path(ge=1)]


def _board(request: Request) -> Switchboard:
    board: Switchboard = request.app.state.chat
    return board


@router.get("/conversations")
async def list_conversations(
    access: MemberAccess,
    db: DB,
    view: transcripts.View = "all",
    q: Annotated[str | None, Query(min_length=1, max_length=transcripts.MAX_QUERY)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationPage:
    rows, nxt = await transcripts.find(
        db,
        access.workspace_id,
        user_id=access.principal.user.id,
        view=view,
        q=q,
        before=before,
        limit=limit,
    )
    return ConversationPage(items=await _read_all(db, rows), next_before=nxt)


async def _read_all(db: DB, rows: list[Conversation]) -> list[ConversationRead]:
    """The inbox's rows with the assignee's name and the queue place, as the socket sends them."""
    ids = {r.assignee_id for r in rows if r.assignee_id}
    names: dict[int, str] = {}
    if ids:
        found = await db.execute(select(User.id, User.name).where(User.id.in_(ids)))
        names = {int(uid): str(name) for uid, name in found.all()}
    out = []
    for r in rows:
        read = ConversationRead.model_validate(r)
        read.assignee_name = names.get(r.assignee_id) if r.assignee_id else None
        read.queue_position = await position(db, r) if r.queued_at else None
        out.append(read)
    return out


async def _read(db: DB, conv: Conversation) -> ConversationRead:
    return (await _read_all(db, [conv]))[0]


@router.get("/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: ConvId, access: MemberAccess, db: DB
) -> ConversationRead:
    return await _read(db, await service.get(db, access.workspace_id, conversation_id))


@router.get("/conversations/{conversation_id}/messages")
async def list_messages(
    conversation_id: ConvId,
    access: MemberAccess,
    db: DB,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[MessageRead]:
    conv = await service.get(db, access.workspace_id, conversation_id)
    rows = await service.messages_after(db, conv, after, notes=True, limit=limit)
    return [MessageRead.model_validate(m) for m in rows]


@router.get("/conversations/{conversation_id}/context")
async def conversation_context(
    conversation_id: ConvId, access: MemberAccess, db: DB, request: Request
) -> dict[str, Any]:
    """What the agent sees beside the chat: the visit now and when the chat opened, the
    customer's earlier orders, and the rule that opened it."""
    conv = await service.get(db, access.workspace_id, conversation_id)
    board = _board(request)
    live = snapshot_of(
        await board.visit_snapshot(conv.workspace_id, conv.visitor_key, conv.visit_key)
    )
    customer_id = conv.customer_id or (live or {}).get("customer_id")
    facts = (
        await get_facts(db, workspace_id=conv.workspace_id, customer_id=customer_id)
        if customer_id
        else None
    )
    rule = await db.get(Rule, conv.rule_id) if conv.rule_id else None
    return {
        "conversation_id": conv.id,
        "visitor_id": conv.visitor_key,
        "visit_id": conv.visit_key,
        "customer_id": customer_id,
        "lead_email": conv.lead_email,
        "opened": conv.context,
        "live": live,
        "customer": None
        if facts is None
        else {
            "orders": facts.orders,
            "lifetime_value": facts.lifetime_value,
            "currency": facts.currency,
            "last_order_at": iso(facts.last_order_at),
        },
        "rule": None
        if rule is None
        else {"id": rule.id, "name": rule.name, "goal": rule.goal, "variant": conv.variant},
    }


@router.post("/conversations/{conversation_id}/assign")
async def assign(
    conversation_id: ConvId, body: AssignRequest, access: MemberAccess, db: DB, request: Request
) -> ConversationRead:
    conv = await service.get(db, access.workspace_id, conversation_id)
    user_id = body.user_id or access.principal.user.id
    if user_id != access.principal.user.id:
        # Giving a chat to someone else is a forward: recorded, with its own endpoint.
        raise Invalid("to give a chat to a colleague, forward it", field="user_id")
    if conv.status == "resolved":
        raise Conflict("the conversation is closed; reopen it", field="conversation_id")
    await routing.assign(db, conv, user_id=user_id)
    await routing.drain(db, access.workspace_id, presence=_board(request).presence)
    await announce(db, conv)
    return await _read(db, conv)


@router.post("/conversations/{conversation_id}/forward")
async def forward(
    conversation_id: ConvId, body: ForwardCreate, access: MemberAccess, db: DB, request: Request
) -> ConversationRead:
    conv = await service.get(db, access.workspace_id, conversation_id)
    await lifecycle.forward(
        db,
        conv,
        by=access.principal.user,
        presence=_board(request).presence,
        to_user_id=body.to_user_id,
        to_team_id=body.to_team_id,
        note=body.note,
    )
    return await _read(db, conv)


@router.post("/conversations/{conversation_id}/resolve")
async def resolve(
    conversation_id: ConvId, access: MemberAccess, db: DB, request: Request
) -> ConversationRead:
    conv = await service.get(db, access.workspace_id, conversation_id)
    await lifecycle.resolve(db, conv, user=access.principal.user, presence=_board(request).presence)
    return await _read(db, conv)


@router.post("/conversations/{conversation_id}/reopen")
async def reopen(conversation_id: ConvId, access: MemberAccess, db: DB) -> ConversationRead:
    conv = await service.get(db, access.workspace_id, conversation_id)
    await lifecycle.reopen(db, conv, user=access.principal.user)
    return await _read(db, conv)


@router.get("/conversations/{conversation_id}/export")
async def export(
    conversation_id: ConvId,
    access: MemberAccess,
    db: DB,
    request: Request,
    format: Literal["json", "txt"] = "json",
    lang: Literal["fi", "en"] | None = None,
) -> Response:
    conv = await service.get(db, access.workspace_id, conversation_id)
    messages = await transcripts.transcript(db, conv)
    ws = await db.get(Workspace, access.workspace_id)
    zone = ws.timezone if ws is not None else "UTC"
    name = f"conversation-{conv.id}"
    if format == "txt":
        # The page's language (the console passes its own), else the request's.
        locale = lang or locale_of(request)
        keys = ("conversation", "zone", "rating", "rating.up", "rating.down", "note")
        labels = {k: i18n.translate(locale, f"export.{k}") for k in keys}
        for author in ("visitor", "bot", "system"):
            labels[author] = i18n.translate(locale, f"export.{author}")
        return PlainTextResponse(
            transcripts.as_text(conv, messages, labels=labels, timezone=zone),
            headers={
                "Content-Disposition": f'attachment; filename="{name}.txt"',
                "Content-Language": locale,
            },
        )
    return Response(
        jsonx.dumps(transcripts.as_json(conv, messages, timezone=zone)),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


# --- canned replies ---------------------------------------------------------------------------


@router.get("/canned-replies")
async def list_canned(access: MemberAccess, db: DB) -> list[CannedReplyRead]:
    return [
        CannedReplyRead.model_validate(r)
        for r in await canned.list_replies(db, access.workspace_id)
    ]


@router.post("/canned-replies", status_code=201)
async def create_canned(body: CannedReplyCreate, access: AdminAccess, db: DB) -> CannedReplyRead:
    row = await canned.create_reply(db, workspace_id=access.workspace_id, data=body)
    return CannedReplyRead.model_validate(row)


@router.patch("/canned-replies/{reply_id}")
async def update_canned(
    reply_id: ReplyId, body: CannedReplyUpdate, access: AdminAccess, db: DB
) -> CannedReplyRead:
    row = await canned.get_reply(db, access.workspace_id, reply_id)
    return CannedReplyRead.model_validate(await canned.update_reply(db, row, body))


@router.delete("/canned-replies/{reply_id}", status_code=204)
async def delete_canned(reply_id: ReplyId, access: AdminAccess, db: DB) -> Response:
    await canned.delete_reply(db, await canned.get_reply(db, access.workspace_id, reply_id))
    return Response(status_code=204)


# --- teams and agents -------------------------------------------------------------------------


@router.get("/teams")
async def list_teams(access: MemberAccess, db: DB) -> list[TeamRead]:
    return [TeamRead.model_validate(t) for t in await teams.list_teams(db, access.workspace_id)]


@router.post("/teams", status_code=201)
async def create_team(body: TeamCreate, access: AdminAccess, db: DB) -> TeamRead:
    team = await teams.create_team(db, workspace_id=access.workspace_id, data=body)
    return TeamRead.model_validate(team)


@router.get("/agents")
async def list_agents(access: MemberAccess, db: DB, request: Request) -> list[AgentRead]:
    rows = await agents.team_view(db, access.workspace_id, _board(request).presence)
    return [AgentRead.model_validate(r) for r in rows]


@router.patch("/agents/{user_id}")
async def update_agent(
    user_id: Annotated[int, Path(ge=1)],
    body: AgentUpdate,
    access: MemberAccess,
    db: DB,
    request: Request,
) -> AgentRead:
    me = access.principal.user
    if user_id != me.id and not access.role.at_least(Role.admin):
        raise Invalid("agents change their own settings; admins anyone's", field="user_id")
    user = await db.get(User, user_id)
    if user is None or not await lifecycle.is_member(db, access.workspace_id, user_id):
        raise NotFound("no such agent in this workspace", field="user_id")
    board = _board(request)
    live = {a.user_id for a in await board.presence.agents(access.workspace_id)}
    await agents.update_settings(
        db,
        user=user,
        workspace_id=access.workspace_id,
        presence=board.presence,
        status=body.status,
        capacity=body.capacity,
        team_id=body.team_id,
        change_team="team_id" in body.model_fields_set,
        connected=user_id in live,
    )
    rows = await agents.team_view(db, access.workspace_id, board.presence)
    return AgentRead.model_validate(next(r for r in rows if r["user_id"] == user_id))


@router.put("/widget")
async def set_widget(body: WidgetSettings, access: AdminAccess, db: DB) -> WidgetSettings:
    ws = await db.get(Workspace, access.workspace_id)
    assert ws is not None
    ws.widget = body.model_dump(exclude={"chat_auto_resolve_hours"})
    if body.chat_auto_resolve_hours is not None:
        ws.chat_auto_resolve_hours = body.chat_auto_resolve_hours
    await db.flush()
    publish(db, WorkspaceChanged(workspace_id=ws.id))
    return body.model_copy(update={"chat_auto_resolve_hours": ws.chat_auto_resolve_hours})


# --- the widget's own, public ------------------------------------------------------------------


@public.get("/api/v1/widget/config")
async def widget_config(
    request: Request,
    response: Response,
    db: DB,
    site_key: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
) -> WidgetConfig:
    board = _board(request)
    site = await board.directory.by_site_key(site_key)
    if site is None:
        raise Unauthorized("the site key is not valid", field="site_key")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null" or not site.allows_origin(origin):
            raise Forbidden(
                f"origin {origin} is not among this workspace's allowed origins", field="origin"
            )
        response.headers["access-control-allow-origin"] = origin
        response.headers["vary"] = "Origin"
    ws = await db.get(Workspace, site.workspace_id)
    widget = (ws.widget if ws else None) or {}
    load = await board.presence.snapshot(site.workspace_id)
    response.headers["cache-control"] = "no-store"
    return WidgetConfig(
        locale=site.locale,
        title=widget.get("title"),
        color=widget.get("color"),
        page_patterns=list(widget.get("page_patterns") or []),
        agents_online=load.online,
    )

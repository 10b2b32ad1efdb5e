"""`/ws/agent`: the console's live end (protocol in docs/chat.md). Authenticated by the staff
session cookie; only the server's own pages may open it (the Origin check), so another site
cannot ride on an agent's cookie. Presence lasts while a console is open (heartbeats)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from kohtaamo.auth import service as auth_service
from kohtaamo.auth.dependencies import SESSION_COOKIE
from kohtaamo.chat import agents, events, routing, service
from kohtaamo.chat.models import Author, Conversation
from kohtaamo.chat.schemas import parse_agent_frame
from kohtaamo.chat.sockets import (
    AGENT_BURST,
    AGENT_RATE,
    TYPING_EVERY,
    UNAVAILABLE,
    ack_of,
    board_of,
    error_frame,
    frame_error,
    limit,
    receive,
    refuse,
    run,
)
from kohtaamo.chat.stream import FORBIDDEN, UNAUTHORIZED, Stream
from kohtaamo.chat.switchboard import Switchboard
from kohtaamo.kit.errors import AppError, NotFound
from kohtaamo.realtime.presence import AgentState

log = logging.getLogger(__name__)
router = APIRouter()
HEARTBEAT = 30.0  # presence entries live 90 s; a console refreshes them this often


@router.websocket("/ws/agent")
async def agent_socket(ws: WebSocket) -> None:
    board = board_of(ws)
    own = board.settings.public_base_url.lower()
    origin = (ws.headers.get("origin") or "").lower().rstrip("/")
    if origin != own:
        # The cookie would ride along from any site: only the console's own pages may connect.
        await refuse(ws, FORBIDDEN, "origin: agent sockets are for this server's own pages")
        return
    token = ws.cookies.get(SESSION_COOKIE)
    async with board.unit() as session:
        principal = await auth_service.resolve(session, token, kind="cookie") if token else None
        if principal is None:
            user = None
            spaces: list[int] = []
        else:
            user = principal.user
            spaces = await agents.workspaces_of(session, user.id)
    if user is None:
        await refuse(ws, UNAUTHORIZED, "sign in first")
        return
    await ws.accept()
    member = set(spaces)

    async def allowed(conversation_id: int) -> Conversation | None:
        async with board.maker() as session:
            conv = await session.get(Conversation, conversation_id)
        return conv if conv is not None and conv.workspace_id in member else None

    stream = Stream(ws, board, notes=True, allowed=allowed, agent_id=user.id)
    await stream.subscribe(events.user_topic(user.id))  # a membership ends: closed at once
    for wid in spaces:
        await stream.subscribe(events.agents_topic(wid))
    async with board.maker() as session:
        mine = await service.assigned_to(session, user.id, spaces)
    for cid in mine:
        await stream.subscribe(events.conversation_topic(cid))
    for wid in spaces:
        key = (wid, user.id)
        board.consoles[key] = board.consoles.get(key, 0) + 1
        async with board.unit() as session:
            await agents.come_online(
                session, user_id=user.id, workspace_id=wid, presence=board.presence
            )
    stream.say({"type": "ready", "user_id": user.id, "name": user.name, "workspaces": spaces})
    beat = asyncio.create_task(_heartbeat(board, stream, user.id, spaces))
    try:
        await run(ws, stream, lambda: _agent_reader(ws, board, stream, user, member))
    finally:
        beat.cancel()
        for wid in spaces:
            key = (wid, user.id)
            board.consoles[key] = board.consoles.get(key, 1) - 1
            if board.consoles[key] <= 0:
                board.consoles.pop(key, None)
                with contextlib.suppress(Exception):
                    await board.presence.drop_agent(wid, user.id)
                    await board.hub.publish(
                        events.agents_topic(wid),
                        {
                            "type": "agent",
                            "user_id": user.id,
                            "name": user.name,
                            "connected": False,
                        },
                    )


async def _heartbeat(board: Switchboard, stream: Stream, user_id: int, spaces: list[int]) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT)
        try:
            async with board.maker() as session:
                if not set(spaces) <= set(await agents.workspaces_of(session, user_id)):
                    # A removal whose hub frame this socket missed: never outlive it by more.
                    stream.say({"type": "_revoked"})
                    return
                counts = {w: await routing.open_counts(session, w) for w in spaces}
                rows = {w: await agents.settings_of(session, w, user_id) for w in spaces}
                await session.commit()
            for w in spaces:
                row = rows[w]
                await board.presence.set_agent(
                    w, AgentState(user_id, row.status, row.capacity, counts[w].get(user_id, 0))
                )
        except Exception:
            log.exception("presence heartbeat failed")


async def _agent_reader(
    ws: WebSocket, board: Switchboard, stream: Stream, user: Any, member: set[int]
) -> None:
    last_typing: dict[int, float] = {}
    while True:
        client_id: str | None = None
        try:
            raw = await receive(ws)
            if isinstance(raw, dict):
                client_id = raw.get("client_id") if isinstance(raw.get("client_id"), str) else None
            frame = parse_agent_frame(raw)
            kind = frame.type
            if kind == "ping":
                stream.say({"type": "pong"})
            elif kind == "sync":
                stream.say(
                    {
                        "type": "_sync",
                        "conversation_id": frame.conversation_id,
                        "after": frame.after,
                    }
                )
            elif kind == "message":
                await limit(board, f"chat:a:{user.id}", AGENT_RATE, AGENT_BURST)
                stored = None
                if board.raw is not None:
                    stored = await board.raw.agent_message(
                        workspaces=frozenset(member),
                        conversation_id=frame.conversation_id,
                        user_id=user.id,
                        name=user.name,
                        body=frame.body,
                        client_id=frame.client_id,
                        note=frame.note,
                    )
                if stored is not None:
                    if not stored.duplicate:
                        await board.announce_stored(stored)
                    stream.say(ack_of(stored.conversation_id, stored.message))
                    continue
                async with board.unit() as session:
                    conv = await _member_conv(session, frame.conversation_id, member)
                    msg, _dup = await service.agent_says(
                        session,
                        conv=conv,
                        user=user,
                        body=frame.body,
                        client_id=frame.client_id,
                        note=frame.note,
                    )
                    ack = ack_of(conv.id, msg)
                stream.say(ack)
            elif kind == "typing":
                now = time.monotonic()
                cid = frame.conversation_id
                if now - last_typing.get(cid, 0.0) >= TYPING_EVERY or not frame.on:
                    last_typing[cid] = now
                    async with board.maker() as session:
                        conv = await _member_conv(session, cid, member)
                    out = {
                        "type": "typing",
                        "conversation_id": cid,
                        "on": frame.on,
                        "author": "agent",
                        "name": user.name,
                        "user_id": user.id,
                    }
                    await board.hub.publish(
                        events.visitor_topic(conv.workspace_id, conv.visitor_key), out
                    )
                    await board.hub.publish(events.conversation_topic(cid), out)
            elif kind == "read":
                async with board.unit() as session:
                    conv = await _member_conv(session, frame.conversation_id, member)
                    await service.mark_read(session, conv, by=Author.agent, seq=frame.seq)
            elif kind == "presence":
                if frame.workspace_id not in member:
                    raise AppError("not a member of this workspace", field="workspace_id")
                async with board.unit() as session:
                    await agents.update_settings(
                        session,
                        user=user,
                        workspace_id=frame.workspace_id,
                        presence=board.presence,
                        status=frame.status,
                        capacity=frame.capacity,
                    )
        except WebSocketDisconnect:
            return
        except ValidationError as exc:
            stream.say(frame_error(exc) | ({"client_id": client_id} if client_id else {}))
        except AppError as exc:
            stream.say(error_frame(exc, client_id))
        except Exception:
            log.exception("agent frame failed")
            stream.say(error_frame(UNAVAILABLE, client_id))


async def _member_conv(session: Any, conversation_id: int, member: set[int]) -> Conversation:
    conv = await session.get(Conversation, conversation_id)
    if conv is None or conv.workspace_id not in member:
        raise NotFound("no such conversation", field="conversation_id")
    assert isinstance(conv, Conversation)
    return conv

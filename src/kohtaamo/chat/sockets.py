"""`/ws/visitor`, and what both sockets share (protocol in docs/chat.md; the agent's is chat.consoles).

A message is stored in its own transaction before it is acknowledged; the frames other sockets
get leave after the commit (chat.switchboard.unit). Reading and writing are two tasks per socket:
this module reads and acts, `stream.Stream` writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from kohtaamo.chat import events, idle, lifecycle, service
from kohtaamo.chat.announce import visitor_view
from kohtaamo.chat.models import Author, Conversation, Status
from kohtaamo.chat.schemas import parse_visitor_frame
from kohtaamo.chat.stream import BAD_REQUEST, FORBIDDEN, TOO_MANY, UNAUTHORIZED, Stream
from kohtaamo.chat.switchboard import Switchboard, snapshot_of
from kohtaamo.kit import jsonx
from kohtaamo.kit.errors import AppError, RateLimited, Unavailable
from kohtaamo.shops.directory import Site

log = logging.getLogger(__name__)
router = APIRouter()
KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_FRAME = 16_384  # characters; a message body is at most 4,000
# Per visitor: a burst of 10 messages, then one every 2 s. Per agent: 30, then 5 a second.
VISITOR_RATE, VISITOR_BURST = 0.5, 10
AGENT_RATE, AGENT_BURST = 5.0, 30
TYPING_EVERY = 1.0
UNAVAILABLE = Unavailable("the message could not be stored just now; it will be sent again")


def board_of(ws: WebSocket) -> Switchboard:
    board: Switchboard = ws.app.state.chat
    return board


async def refuse(ws: WebSocket, code: int, reason: str) -> None:
    # Accept-then-close so the browser sees our code and reason (a refused handshake hides them).
    await ws.accept()
    await ws.close(code, reason[:120])


def error_frame(exc: AppError, client_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", **exc.body()["detail"]}
    if client_id:
        frame["client_id"] = client_id
    return frame


def frame_error(exc: ValidationError) -> dict[str, Any]:
    err = exc.errors()[0]
    loc = list(err["loc"])
    if len(loc) > 1 and isinstance(loc[0], str):
        loc = loc[1:]  # the union's tag (the frame's type), not a field
    field = ".".join(str(p) for p in loc) or "type"
    return {"type": "error", "code": "invalid", "field": field, "message": f"{field}: {err['msg']}"}


async def receive(ws: WebSocket) -> Any:
    if WebSocketState.DISCONNECTED in (ws.application_state, ws.client_state):
        # Our side closed it (lagging, membership changed, a failed send): the reader is done.
        # Starlette raises a plain RuntimeError here, which a reader would take for a bad frame
        # and retry at once, never yielding: one such socket would stall the whole server.
        raise WebSocketDisconnect(code=1000)
    text = await ws.receive_text()
    if len(text) > MAX_FRAME:
        raise AppError(f"a frame is at most {MAX_FRAME} characters", field="frame")
    try:
        return jsonx.loads(text)
    except ValueError:
        raise AppError("a frame must be a JSON object", field="frame") from None


async def run(ws: WebSocket, stream: Stream, reader: Any) -> None:
    pump = asyncio.create_task(stream.pump())
    read = asyncio.create_task(reader())
    try:
        await asyncio.wait((pump, read), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, read):
            task.cancel()
        for task in (pump, read):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await stream.close()
        with contextlib.suppress(Exception):
            await ws.close()


# --- visitors ---------------------------------------------------------------------------------


@router.websocket("/ws/visitor")
async def visitor_socket(ws: WebSocket) -> None:
    board = board_of(ws)
    q = ws.query_params
    site_key, visitor, visit = q.get("site_key", ""), q.get("visitor_id", ""), q.get("visit_id", "")
    if not (KEY.match(visitor) and KEY.match(visit)):
        await refuse(ws, BAD_REQUEST, "visitor_id and visit_id: 1-64 of A-Z a-z 0-9 _ . : -")
        return
    site = await board.directory.by_site_key(site_key) if site_key else None
    if site is None:
        await refuse(ws, UNAUTHORIZED, "site_key: the site key is not valid")
        return
    origin = ws.headers.get("origin")
    if origin is not None and (origin == "null" or not site.allows_origin(origin)):
        await refuse(ws, FORBIDDEN, f"origin {origin} is not allowed for this site")
        return
    await ws.accept()

    async def allowed(conversation_id: int) -> Conversation | None:
        async with board.maker() as session:
            conv = await session.get(Conversation, conversation_id)
        ok = conv is not None and conv.workspace_id == site.workspace_id
        return conv if ok and conv is not None and conv.visitor_key == visitor else None

    stream = Stream(ws, board, notes=False, allowed=allowed)
    await stream.subscribe(events.visitor_topic(site.workspace_id, visitor))
    # A conversation idle past the limit is closed now, so `ready` says what the rules go by.
    await idle.settle(board, site.workspace_id, visitor)
    async with board.maker() as session:
        conv = await service.current(session, site.workspace_id, visitor)
        view = None
        if conv is not None:
            view = await visitor_view(session, conv)
    load = await board.presence.snapshot(site.workspace_id)
    stream.say(
        {"type": "ready", "conversation": view, "agents_online": load.online, "locale": site.locale}
    )
    await run(ws, stream, lambda: _visitor_reader(ws, board, stream, site, visitor, visit))


async def _visitor_reader(
    ws: WebSocket, board: Switchboard, stream: Stream, site: Site, visitor: str, visit: str
) -> None:
    last_typing = 0.0
    while True:
        client_id: str | None = None
        try:
            raw = await receive(ws)
            if isinstance(raw, dict):
                client_id = raw.get("client_id") if isinstance(raw.get("client_id"), str) else None
            frame = parse_visitor_frame(raw)
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
                await limit(
                    board, f"chat:v:{site.workspace_id}:{visitor}", VISITOR_RATE, VISITOR_BURST
                )
                stored = None
                if board.raw is not None and frame.email is None:
                    stored = await board.raw.visitor_message(
                        workspace_id=site.workspace_id,
                        visitor_key=visitor,
                        body=frame.body,
                        client_id=frame.client_id,
                    )
                if stored is not None:
                    if not stored.duplicate:
                        await board.announce_stored(stored)
                    stream.say(ack_of(stored.conversation_id, stored.message))
                    continue
                state = await board.visit_snapshot(site.workspace_id, visitor, visit)
                async with board.unit() as session:
                    said = await service.visitor_says(
                        session,
                        site=site,
                        presence=board.presence,
                        visitor_key=visitor,
                        visit_key=visit,
                        body=frame.body,
                        client_id=frame.client_id,
                        exposure_id=frame.exposure_id,
                        email=frame.email,
                        customer_id=(state or {}).get("customer_id"),
                        snapshot=snapshot_of(state),
                    )
                    if said.opened:
                        # Queued before the commit publishes the message: with Redis the hub's
                        # copy can come back before this line runs, and must find the new
                        # conversation followed (else it goes out untracked and is sent twice).
                        stream.say({"type": "_follow", "conversation_id": said.conv.id})
                stream.say(ack_of(said.conv.id, said.msg))
            elif kind == "typing":
                now = time.monotonic()
                if now - last_typing >= TYPING_EVERY or not frame.on:
                    last_typing = now
                    await _visitor_typing(board, site, visitor, frame.on)
            elif kind == "read":
                async with board.unit() as session:
                    conv_or_none = await service.current(session, site.workspace_id, visitor)
                    if conv_or_none is not None:
                        await service.mark_read(
                            session, conv_or_none, by=Author.visitor, seq=frame.seq
                        )
            elif kind == "rate":
                async with board.unit() as session:
                    conv_or_none = await service.current(session, site.workspace_id, visitor)
                    if conv_or_none is None:
                        raise AppError("there is no conversation to rate", field="conversation_id")
                    await lifecycle.rate(
                        session, conv_or_none, value=frame.value, comment=frame.comment
                    )
        except WebSocketDisconnect:
            return
        except ValidationError as exc:
            stream.say(frame_error(exc) | ({"client_id": client_id} if client_id else {}))
        except AppError as exc:
            if exc.status == 429 and client_id is None:
                await ws.close(TOO_MANY, "too many frames")
                return
            stream.say(error_frame(exc, client_id))
        except Exception:
            # Not stored, so not acknowledged: the client keeps it and sends it again.
            log.exception("visitor frame failed")
            stream.say(error_frame(UNAVAILABLE, client_id))


async def _visitor_typing(board: Switchboard, site: Site, visitor: str, on: bool) -> None:
    async with board.maker() as session:
        conv = await service.current(session, site.workspace_id, visitor)
    if conv is None or conv.status == Status.resolved:
        return
    frame = {"type": "typing", "conversation_id": conv.id, "on": on, "author": "visitor"}
    await board.hub.publish(events.conversation_topic(conv.id), frame)


def ack_of(conversation_id: int, msg: Any) -> dict[str, Any]:
    return {
        "type": "ack",
        "client_id": msg.client_id,
        "conversation_id": conversation_id,
        "seq": msg.seq,
        "prev": msg.prev_seq,
        "id": msg.id,
        "at": events.iso(msg.created_at),
    }


async def limit(board: Switchboard, key: str, rate: float, burst: int) -> None:
    verdict = await board.limiter.hit(key, rate=rate, burst=burst)
    if not verdict.allowed:
        raise RateLimited("too many messages; wait a moment", retry_after=verdict.retry_after)

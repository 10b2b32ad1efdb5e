"""One live socket's outbound side: frames from the hub and the socket's own answers, in order,
with every conversation's messages delivered once each and without gaps.

Everything a socket sends goes through `Stream.pump`, one task: the hub's frames, acks and
replays. Per conversation it keeps the highest sequence number sent. A replayed or live message at
or below it is dropped (already seen); one above `sent + 1` means frames were missed (a full
inbox, a Redis hiccup, the race between subscribing and reading history), so the gap is read from
the database first. A client that says "after N" therefore gets exactly N+1, N+2, … once each.
Visitors never get notes, which take numbers too: each line's `prev` names the visitor-visible
line before it, so a client tells a real gap from a note's number (docs/chat.md)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from kohtaamo.chat import service
from kohtaamo.chat.events import conversation_topic, message_frame
from kohtaamo.chat.models import Conversation
from kohtaamo.chat.switchboard import Switchboard
from kohtaamo.kit import jsonx
from kohtaamo.realtime.hub import Inbox

log = logging.getLogger(__name__)
# Close codes (4000-4999 are the application's own).
BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, TOO_MANY = 4400, 4401, 4403, 4429
LAGGING = 4408  # the socket fell behind; the client reconnects and resynchronises
CHANGED = 4409  # the agent's memberships changed; a new socket hears what they belong to now

Allowed = Callable[[int], Awaitable[Conversation | None]]


class Stream:
    def __init__(
        self,
        ws: WebSocket,
        board: Switchboard,
        *,
        notes: bool,
        allowed: Allowed,
        agent_id: int | None = None,
    ) -> None:
        self.ws = ws
        self.board = board
        self.notes = notes  # agents see internal notes; visitors never do
        self.allowed = allowed  # the conversation, if this socket may read it
        self.agent_id = agent_id  # an agent follows what is assigned to them and what they open
        self.inbox = Inbox()
        self.sent: dict[int, int] = {}  # conversation id -> highest seq sent (once synced)
        self.topics: set[str] = set()

    async def subscribe(self, topic: str) -> None:
        if topic in self.topics:
            return
        await self.board.hub.subscribe(topic, self.inbox)
        self.topics.add(topic)

    async def close(self) -> None:
        for topic in self.topics:
            with contextlib.suppress(Exception):
                await self.board.hub.unsubscribe(topic, self.inbox)

    def say(self, frame: dict[str, Any]) -> None:
        """Queue a frame of this socket's own (ack, error, sync request) behind what is queued."""
        self.inbox.put(frame)

    async def pump(self) -> None:
        try:
            while True:
                item = await self.inbox.get()
                if self.inbox.lagging:
                    await self.ws.close(LAGGING, "too far behind; reconnect and sync")
                    return
                if isinstance(item, bytes):
                    await self._hub(item)
                else:
                    assert isinstance(item, dict)
                    await self._local(item)
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            return  # the socket closed under us; the reader ends the connection

    async def _local(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "_sync":
            cid = frame["conversation_id"]
            if self.agent_id is not None:
                await self.subscribe(conversation_topic(cid))  # the console has it open
            await self._replay(cid, frame["after"], asked=True)
            return
        if frame["type"] == "_revoked":
            await self._revoked()
        if frame["type"] == "_follow":
            # A conversation this socket just opened: deliver it from the start, in order.
            self.sent.setdefault(frame["conversation_id"], 0)
            return
        await self._send_bytes(jsonx.dumps(frame))

    async def _hub(self, raw: bytes) -> None:
        if raw.startswith(b'{"type":"message"'):
            frame = jsonx.loads(raw)
            cid = frame["conversation_id"]
            if cid in self.sent:
                seq = frame["seq"]
                if seq <= self.sent[cid]:
                    return
                gap = seq > self.sent[cid] + 1
                if gap and not self.notes and frame.get("prev") is not None:
                    gap = frame["prev"] > self.sent[cid]  # a hole where a note is, not a gap
                if gap:
                    await self._replay(cid, self.sent[cid])
                    if seq <= self.sent[cid]:
                        return
                self.sent[cid] = seq
        elif self.agent_id is not None and raw.startswith(b'{"type":"_revoked"'):
            await self._revoked()
        elif self.agent_id is not None and raw.startswith(b'{"type":"notice"'):
            frame = jsonx.loads(raw)
            if frame.get("user_id") == self.agent_id:
                await self.subscribe(conversation_topic(frame["conversation_id"]))
        await self._send_bytes(raw)

    async def _revoked(self) -> None:
        """A membership of this agent ended: nothing more goes out on this socket."""
        await self.ws.close(CHANGED, "membership changed; reconnect")
        raise ConnectionError("membership changed")

    async def _replay(self, conversation_id: int, after: int, *, asked: bool = False) -> None:
        conv = await self.allowed(conversation_id)
        if conv is None:
            await self._send_bytes(
                jsonx.dumps(
                    {
                        "type": "error",
                        "code": "not_found",
                        "field": "conversation_id",
                        "message": "no such conversation",
                    }
                )
            )
            return
        after = max(after, 0)
        if asked:
            # The client says what it holds: replay from there, even what this socket already
            # sent (the client drops what it has by seq). Trusting our own count instead lost a
            # line the client had set aside as out of order (issue 12).
            self.sent[conversation_id] = after
        else:
            self.sent[conversation_id] = max(self.sent.get(conversation_id, 0), after)
        async with self.board.maker() as session:
            # last_seq first: every message up to it is committed (seq and row commit together),
            # so the reads below see all of them; a visitor's view skips notes, so this, not the
            # last message sent, says where they are.
            fresh = await session.get(Conversation, conversation_id)
            last = fresh.last_seq if fresh else 0
            while True:
                rows = await service.messages_after(
                    session, conv, self.sent[conversation_id], notes=self.notes
                )
                for msg in rows:
                    await self._send_bytes(jsonx.dumps(message_frame(msg)))
                    self.sent[conversation_id] = msg.seq
                if len(rows) < service.REPLAY_LIMIT:
                    break
        self.sent[conversation_id] = max(self.sent[conversation_id], last)
        await self._send_bytes(
            jsonx.dumps(
                {
                    "type": "synced",
                    "conversation_id": conversation_id,
                    "last_seq": self.sent[conversation_id],
                }
            )
        )

    async def _send_bytes(self, data: bytes) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise ConnectionError("socket closed")
        await self.ws.send_text(data.decode())

"""Driving live chat in tests: the app on a real port (uvicorn, in the test's loop), real websocket
clients (the `websockets` library), staff cookies, and frame helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import User
from kohtaamo.db.engine import transaction
from tests import factory as f
from tests.browser import free_port

TIMEOUT = 10.0


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The already-started app (its lifespan ran in the fixture) on 127.0.0.1:<free port>."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


async def cookie(app: FastAPI, user_id: int) -> str:
    async with transaction(app.state.sessionmaker) as s:
        user = await s.get(User, user_id)
        assert user is not None
        token, _ = await auth.start_session(s, user=user, kind="cookie", days=1)
    return token


class Socket:
    """A websocket with a backlog: `expect(type)` skips (and keeps) other frames."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.seen: list[dict[str, Any]] = []
        self.backlog: list[dict[str, Any]] = []  # received, not yet taken by `expect`

    async def send(self, frame: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(frame))

    async def recv(self, wait: float = TIMEOUT) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), wait))
        self.seen.append(frame)
        return frame

    async def expect(self, type_: str, wait: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        def fits(frame: dict[str, Any]) -> bool:
            return frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items())

        for i, frame in enumerate(self.backlog):
            if fits(frame):
                del self.backlog[i]
                return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"no {type_} frame {match} within {wait} s; saw {self.seen[-8:]}"
                )
            try:
                frame = await self.recv(left)
            except TimeoutError:
                continue
            if fits(frame):
                return frame
            self.backlog.append(frame)

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that arrives from now on, until `seconds` pass without one."""
        out = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(await self.recv(seconds))
        return out

    async def say(self, body: str, **extra: Any) -> dict[str, Any]:
        """Send a message and wait for its ack."""
        cid = extra.pop("client_id", None) or uuid.uuid4().hex
        await self.send({"type": "message", "client_id": cid, "body": body, **extra})
        return await self.expect("ack", client_id=cid)

    async def close(self) -> None:
        await self.conn.close()

    async def closed_with(self) -> int:
        """The close code the server ended this socket with."""
        try:
            await asyncio.wait_for(self.conn.recv(), TIMEOUT)
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is None:
                raise AssertionError("closed without a close frame") from exc
            return int(exc.rcvd.code)
        raise AssertionError("the socket stayed open")


async def visitor(
    host: str,
    shop: f.Shop,
    visitor_id: str,
    visit_id: str = "visit-1",
    *,
    origin: str | None = f.ORIGIN,
) -> Socket:
    url = f"ws://{host}/ws/visitor?site_key={shop.site_key}&visitor_id={visitor_id}&visit_id={visit_id}"
    headers = {"Origin": origin} if origin else {}
    conn = await websockets.connect(url, additional_headers=headers, open_timeout=TIMEOUT)
    return Socket(conn)


async def agent(host: str, token: str, *, origin: str = "http://testserver") -> Socket:
    conn = await websockets.connect(
        f"ws://{host}/ws/agent",
        additional_headers={"Origin": origin, "Cookie": f"kohtaamo_session={token}"},
        open_timeout=TIMEOUT,
    )
    return Socket(conn)


def new_visitor() -> str:
    return f"v-{uuid.uuid4().hex[:12]}"

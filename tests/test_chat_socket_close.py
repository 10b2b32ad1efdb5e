"""A socket our side closed (lagging, membership changed, a failed send) ends its reader.

Found running the demo: a console whose socket the server had closed kept calling Starlette's
`receive_text`, which raises a plain RuntimeError at once on a closed socket; the reader took it
for a bad frame, answered with an error and read again without ever yielding, so the whole
server stopped answering (590,000 log lines in seconds). The readers end on
`WebSocketDisconnect`; `chat.sockets.receive` must raise exactly that for a closed socket."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from kohtaamo.chat.sockets import receive

pytestmark = pytest.mark.asyncio


def _socket(sent: list[dict[str, Any]]) -> WebSocket:
    """A Starlette WebSocket on the ASGI interface as a server hands it over: a connect
    message waiting, and every frame the application sends recorded."""
    inbound = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": '{"a": 1}'}]

    async def asgi_receive() -> dict[str, Any]:
        return inbound.pop(0)

    async def asgi_send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws/agent", "headers": [], "query_string": b""}
    return WebSocket(scope, asgi_receive, asgi_send)


async def test_an_open_socket_reads_its_frame() -> None:
    ws = _socket([])
    await ws.accept()
    assert await receive(ws) == {"a": 1}


async def test_a_socket_closed_by_our_side_ends_the_reader() -> None:
    sent: list[dict[str, Any]] = []
    ws = _socket(sent)
    await ws.accept()
    await ws.close(4408, "too far behind; reconnect and sync")  # as the stream's pump does
    assert ws.application_state == WebSocketState.DISCONNECTED
    assert sent[-1]["type"] == "websocket.close"
    for _ in range(3):  # every read after it, not only the first
        with pytest.raises(WebSocketDisconnect):
            await receive(ws)

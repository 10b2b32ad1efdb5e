"""A lean ASGI client for the simulator: one HTTP request into the app, as a server would hand it
over (scope, receive, send), without an HTTP client library around it.

The simulated history makes thousands of requests one after another; httpx's ASGI transport
spent as much time per request as the app itself (building a URL and a request object, and
looking for trio on every request). The app and its middleware see the same requests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kohtaamo.kit import jsonx

Message = dict[str, Any]


class Response:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonx.loads(self.content)


class AsgiClient:
    def __init__(self, app: Any, base_url: str, *, client: tuple[str, int]) -> None:
        url = urlsplit(base_url)
        self._app = app
        self._scheme = url.scheme or "http"
        port = url.port or (443 if self._scheme == "https" else 80)
        self._server = (url.hostname or "localhost", port)
        self._host = url.netloc.encode()
        self._client = client

    async def post(
        self, path: str, *, json: Any, headers: dict[str, str] | None = None
    ) -> Response:
        body = jsonx.dumps(json)
        raw = [
            (b"host", self._host),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": self._scheme,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": raw,
            "client": self._client,
            "server": self._server,
        }
        sent = False
        status = 500
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:  # the request is over: the app only asks again to notice a disconnect
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        return Response(status, b"".join(chunks))

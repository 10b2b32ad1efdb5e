"""`POST /api/v1/track`, served as a lean ASGI endpoint in front of FastAPI's routing (ADR 0005).

It is the one public hot path: every page view of every shop lands here. Each `await` inside a
FastAPI route resumes a chain of about twenty middleware and router frames, which cost /track
more than twice what a bare route pays. Here the request is answered right after the metrics
middleware; the errors, limits and checks are the same as everywhere (kit.errors, 4xx naming the
field), and the FastAPI route in router.py calls the same `answer` for the OpenAPI description.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace

from starlette.types import ASGIApp, Receive, Scope, Send

from kohtaamo.kit import jsonx
from kohtaamo.kit.errors import (
    AppError,
    BadRequest,
    Forbidden,
    TooLarge,
    Unauthorized,
    UnsupportedMedia,
)
from kohtaamo.shops.directory import Site, SiteDirectory
from kohtaamo.tracking import service
from kohtaamo.tracking.intake import parse_body, read_decide
from kohtaamo.tracking.schemas import DecideResult

log = logging.getLogger(__name__)
PATH = "/api/v1/track"
DECIDE_PATH = "/api/v1/decide"
PATHS = frozenset({PATH, DECIDE_PATH})
JSON_TYPES = ("application/json", "text/plain", "")
# One message for unknown, malformed and rotated keys alike: the answer reveals no key's existence.
BAD_SITE = "the site key is not valid"
# What the metrics middleware labels each request with.
_ROUTES = {p: SimpleNamespace(path=p) for p in PATHS}
Reader = Callable[[int], Awaitable[bytes]]


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __or__(self, extra: dict[str, str]) -> Answer:
        return Answer(self.status, self.body, self.headers | extra)


def _cors(headers: Mapping[str, str]) -> dict[str, str]:
    # The endpoint takes no cookies, so echoing the origin is safe; origins are checked per site.
    origin = headers.get("origin")
    if not origin:
        return {}
    # Retry-After is exposed so the widget can honour it when it backs off after a 429/503.
    return {
        "access-control-allow-origin": origin,
        "access-control-expose-headers": "Retry-After",
        "vary": "Origin",
    }


async def resolve_sender(
    directory: SiteDirectory, headers: Mapping[str, str], site_key: str | None
) -> tuple[Site, str]:
    """A browser with the public site key (origin checked), or the shop's server with a secret key."""
    authz = headers.get("authorization")
    if authz:
        scheme, _, secret = authz.partition(" ")
        if scheme.lower() != "bearer" or not secret.startswith("ksk_"):
            raise Unauthorized("the Authorization header must be 'Bearer <secret API key>'")
        site = await directory.by_api_key(secret.strip())
        if site is None:
            raise Unauthorized("the API key is not valid or was revoked")
        return site, "server"
    if not site_key:
        raise Unauthorized(
            "site_key is required (or a secret API key for server calls)", field="site_key"
        )
    site = await directory.by_site_key(site_key)
    if site is None:
        raise Unauthorized(BAD_SITE, field="site_key")
    origin = headers.get("origin")
    # "null" is what a sandboxed iframe sends: any site could use one to pass the check.
    if origin is not None and (origin == "null" or not site.allows_origin(origin)):
        raise Forbidden(
            f"origin {origin} is not among this workspace's allowed origins", field="origin"
        )
    return site, "widget"


async def answer(
    tracker: service.Tracker,
    directory: SiteDirectory,
    method: str,
    headers: Mapping[str, str],
    read: Reader,
    path: str = PATH,
) -> Answer:
    cors = _cors(headers)
    if method == "OPTIONS":
        return Answer(
            204,
            headers=cors
            | {
                "access-control-allow-methods": "POST, OPTIONS",
                "access-control-allow-headers": "content-type",
                "access-control-max-age": "86400",
            },
        )
    try:
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype not in JSON_TYPES:
            raise UnsupportedMedia(
                "send the batch as application/json or text/plain", field="content-type"
            )
        body = await read(tracker.settings.track_max_body_bytes)
        payload = parse_body(body)
        if path == DECIDE_PATH:
            return await _decide(tracker, directory, headers, payload) | cors
        batch = service.envelope(tracker, payload)
        site, source = await resolve_sender(directory, headers, batch.site_key)
        await service.throttle(tracker, site, len(batch.events))
        intake = service.check(tracker, batch, may_hold_nul=b"\\u0000" in body)
        service.verify_identity(site, intake, source)
        result, _state = await service.track(tracker, site=site, intake=intake, source=source)
    except AppError as exc:
        return Answer(exc.status, jsonx.dumps(exc.body()), exc.headers() | cors)
    return Answer(200, jsonx.dumps(result.model_dump()), cors)


async def _decide(
    tracker: service.Tracker,
    directory: SiteDirectory,
    headers: Mapping[str, str],
    payload: object,
) -> Answer:
    req = read_decide(payload)
    site, _source = await resolve_sender(directory, headers, req.site_key)
    await service.throttle(tracker, site, 0, bucket="decide")
    decision = await service.check_back(
        tracker, site=site, visitor_key=req.visitor_id, visit_key=req.visit_id
    )
    result = DecideResult(actions=decision.actions, check_in=decision.check_in)
    return Answer(200, jsonx.dumps(result.model_dump()))


def limited_reader(receive: Receive, declared: str | None) -> Reader:
    async def read(limit: int) -> bytes:
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                raise BadRequest("Content-Length is not a number", field="content-length") from None
            if too_big:
                raise TooLarge(f"the body is larger than {limit} bytes", field="body")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest("the client went away before sending the body", field="body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the body is larger than {limit} bytes", field="body")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    return read


class TrackEndpoint:
    """ASGI middleware that answers `POST|OPTIONS /api/v1/track` and passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] not in PATHS
            or scope["method"] not in ("POST", "OPTIONS")
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTES[scope["path"]]
        state = scope["app"].state
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            ans = await answer(
                state.tracker,
                state.directory,
                scope["method"],
                headers,
                limited_reader(receive, headers.get("content-length")),
                scope["path"],
            )
        except Exception:
            log.exception("tracking request failed")
            ans = Answer(
                500,
                jsonx.dumps(
                    {
                        "detail": {
                            "code": "internal",
                            "message": "the server failed to handle the batch; nothing was stored, retry later",
                        }
                    }
                ),
                _cors(headers),
            )
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ans.headers.items()]
        if ans.body or ans.status != 204:
            raw += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(ans.body)).encode()),
            ]
        await send({"type": "http.response.start", "status": ans.status, "headers": raw})
        await send({"type": "http.response.body", "body": ans.body})

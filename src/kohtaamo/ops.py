"""Operations: liveness, readiness, Prometheus metrics, and per-request counting (pure ASGI, cheap)."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(tags=["ops"], include_in_schema=False)
log = logging.getLogger("kohtaamo.request")

REQUESTS = Counter("kohtaamo_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "kohtaamo_http_request_seconds",
    "HTTP request time",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        redis = request.app.state.redis
        if redis is not None:
            await redis.ping()
    except Exception as exc:
        return Response(
            f'{{"status":"unavailable","reason":"{type(exc).__name__}"}}',
            status_code=503,
            media_type="application/json",
        )
    return Response('{"status":"ready"}', media_type="application/json")


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


GC_PAUSE = Histogram(
    "kohtaamo_gc_pause_seconds",
    "Python garbage-collection pauses (the whole worker stops meanwhile), by generation",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
_gc_started: list[float] = []


def _gc_watch(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started.append(time.perf_counter())
    elif _gc_started:
        GC_PAUSE.labels(str(info.get("generation", "?"))).observe(
            time.perf_counter() - _gc_started.pop()
        )


def watch_gc() -> None:
    """Measure collector pauses: a stalled worker delays every socket it holds."""
    if _gc_watch not in gc.callbacks:
        gc.callbacks.append(_gc_watch)


class MetricsMiddleware:
    """Counts requests by route template (not raw path, so ids don't explode the label set)."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = False) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            key = (scope["method"], name, status)
            children = _children.get(key)
            if children is None:  # labels() takes a lock and builds a key: do it once per label set
                children = _children[key] = (
                    REQUESTS.labels(scope["method"], name, str(status)),
                    LATENCY.labels(name),
                )
            elapsed = time.perf_counter() - start
            children[0].inc()
            children[1].observe(elapsed)
            if self.log_requests or status >= 500:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )

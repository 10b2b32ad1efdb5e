from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from kohtaamo.auth.dependencies import MemberAccess
from kohtaamo.kit.errors import NotFound
from kohtaamo.kit.http import read_body
from kohtaamo.tracking import service
from kohtaamo.tracking.endpoint import answer
from kohtaamo.tracking.models import Visit, Visitor
from kohtaamo.tracking.schemas import (
    DecideRequest,
    DecideResult,
    EventRead,
    TrackResult,
    VisitorRead,
    VisitRead,
)
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1", tags=["tracking"])
VisitorKey = Annotated[str, Path(min_length=1, max_length=64)]


async def _answer(request: Request) -> Response:
    state = request.app.state
    headers = {k.lower(): v for k, v in request.headers.items()}

    async def read(limit: int) -> bytes:
        return await read_body(request, limit)

    path = request.url.path
    ans = await answer(state.tracker, state.directory, request.method, headers, read, path)
    media = None if ans.status == 204 else "application/json"
    return Response(ans.body, status_code=ans.status, headers=ans.headers, media_type=media)


@router.options("/track", include_in_schema=False)
async def track_preflight(request: Request) -> Response:
    return await _answer(request)


@router.post(
    "/track",
    response_model=TrackResult,
    responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}, 429: {}, 503: {}},
    openapi_extra={"requestBody": {"content": {"application/json": {}, "text/plain": {}}}},
)
async def track(request: Request) -> Response:
    """Store a batch of 1-500 events; the same event id is stored once, however often it is sent.

    Accepts `application/json` and `text/plain` (what `navigator.sendBeacon` sends). In the app
    this path is answered by `tracking.endpoint.TrackEndpoint` before routing; same `answer`."""
    return await _answer(request)


@router.options("/decide", include_in_schema=False)
async def decide_preflight(request: Request) -> Response:
    return await _answer(request)


@router.post(
    "/decide",
    response_model=DecideResult,
    responses={400: {}, 401: {}, 403: {}, 415: {}, 422: {}, 429: {}},
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": DecideRequest.model_json_schema()}}
        }
    },
)
async def decide(request: Request) -> Response:
    """The widget's timer: after `check_in` seconds without events, ask what the rules say now.

    Stores nothing and does not count as activity (idle time keeps growing)."""
    return await _answer(request)


@router.get("/workspaces/{workspace_id}/visitors")
async def list_visitors(
    access: MemberAccess,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[VisitorRead]:
    rows = await service.list_visitors(db, access.workspace_id, limit=limit, before_id=before_id)
    return [_visitor(v) for v in rows]


def _visitor(v: Visitor) -> VisitorRead:
    return VisitorRead(
        visitor_id=v.key,
        first_seen_at=v.first_seen_at,
        last_seen_at=v.last_seen_at,
        visit_count=v.visit_count,
        customer_id=v.customer_id,
    )


@router.get("/workspaces/{workspace_id}/visitors/{visitor_id}")
async def get_visitor(visitor_id: VisitorKey, access: MemberAccess, db: DB) -> VisitorRead:
    return _visitor(await service.get_visitor(db, access.workspace_id, visitor_id))


@router.get("/workspaces/{workspace_id}/visitors/{visitor_id}/visits")
async def visits(visitor_id: VisitorKey, access: MemberAccess, db: DB) -> list[VisitRead]:
    await service.get_visitor(db, access.workspace_id, visitor_id)
    return [_visit(v) for v in await service.visits_of(db, access.workspace_id, visitor_id)]


def _visit(v: Visit) -> VisitRead:
    fields = {
        k: getattr(v, k) for k in VisitRead.model_fields if k not in ("visit_id", "visitor_id")
    }
    return VisitRead(visit_id=v.key, visitor_id=v.visitor_key, **fields)


@router.get("/workspaces/{workspace_id}/visitors/{visitor_id}/events")
async def events(
    visitor_id: VisitorKey,
    access: MemberAccess,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventRead]:
    await service.get_visitor(db, access.workspace_id, visitor_id)
    rows = await service.events_of(db, access.workspace_id, visitor_id, limit=limit)
    return [
        EventRead(
            id=e.event_id,
            type=e.type,
            ts=e.ts,
            received_at=e.received_at,
            visitor_id=e.visitor_key,
            visit_id=e.visit_key,
            props=e.props,
            clamped=e.clamped,
            source=e.source,
        )
        for e in rows
    ]


@router.get("/workspaces/{workspace_id}/visitors/{visitor_id}/visits/{visit_id}/live")
async def live_state(
    visitor_id: VisitorKey, visit_id: VisitorKey, access: MemberAccess, request: Request
) -> dict[str, object]:
    """The visit's live state as the rule engine sees it (404 once the visit has gone quiet)."""
    tracker: service.Tracker = request.app.state.tracker
    state = await tracker.live.get((access.workspace_id, visitor_id, visit_id))
    if state is None:
        raise NotFound(
            "no live state for this visit (unknown, or idle past its time-to-live)",
            field="visit_id",
        )
    return state

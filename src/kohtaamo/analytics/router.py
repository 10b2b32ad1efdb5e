"""Reports over the analytics archive: rule experiments and order attribution (docs/analytics.md)."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.analytics import attribution, earned, experiments, exports, funnel, metrics
from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.glossary import Unit
from kohtaamo.analytics.view import csv_response
from kohtaamo.auth.dependencies import MemberAccess
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Invalid, NotFound, Unavailable
from kohtaamo.shops.models import Workspace
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/reports", tags=["reports"])
Window = Annotated[
    int | None,
    Query(ge=1, le=90, description="attribution window in days; default the workspace's"),
]
Start = Annotated[datetime | None, Query(description="inclusive, ISO 8601 with a zone")]
End = Annotated[datetime | None, Query(description="exclusive; default now")]


async def _window(db: AsyncSession, workspace_id: int, asked: int | None) -> int:
    if asked is not None:
        return asked
    days = await db.scalar(select(Workspace.attribution_days).where(Workspace.id == workspace_id))
    return int(days or 7)


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if end is not None and end.tzinfo is None:
        raise Invalid("end needs a time zone (e.g. 2026-11-30T00:00:00+02:00)", field="end")
    end = end or utcnow()
    start = start or end - timedelta(days=30)
    if start.tzinfo is None:
        raise Invalid("start needs a time zone (e.g. 2026-11-01T00:00:00+02:00)", field="start")
    if end.tzinfo is None:
        raise Invalid("end needs a time zone (e.g. 2026-11-30T00:00:00+02:00)", field="end")
    if end <= start:
        raise Invalid("end must be after start", field="end")
    return start, end


def _archive(request: Request) -> Archive:
    archive: Archive | None = getattr(request.app.state, "archive", None)
    if archive is None or not archive.ready():
        # Before the first pass has published a snapshot (ADR 0015).
        raise Unavailable("the analytics archive is not filled yet; try again soon", retry_after=30)
    return archive


@router.get("/rules")
async def rule_report(
    access: MemberAccess,
    request: Request,
    db: DB,
    window_days: Window = None,
    start: Start = None,
    end: End = None,
) -> list[dict[str, Any]]:
    """Each rule's experiment: the visitors first exposed in [start, end) (default: all time)."""
    archive = _archive(request)
    if start is not None or end is not None:
        start, end = _range(start, end)
    found = await asyncio.to_thread(
        experiments.experiments,
        archive,
        access.workspace_id,
        window_days=await _window(db, access.workspace_id, window_days),
        start=start,
        end=end,
    )
    return [experiments.as_dict(e) | earned.as_dict(e) for e in found]


@router.get("/funnel")
async def funnel_report(
    access: MemberAccess, request: Request, start: Start = None, end: End = None
) -> dict[str, Any]:
    """People per stage in [start, end) (default the last 30 days); stages in docs/analytics.md."""
    start, end = _range(start, end)
    steps = await asyncio.to_thread(
        funnel.funnel, _archive(request), access.workspace_id, start, end
    )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "stages": [
            {"stage": s.stage, "people": s.people, "of_previous": s.of_previous} for s in steps
        ],
    }


@router.get("/attribution")
async def attribution_report(
    access: MemberAccess,
    request: Request,
    db: DB,
    window_days: Window = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    archive = _archive(request)
    rows = await asyncio.to_thread(
        attribution.attribute,
        archive,
        access.workspace_id,
        window_days=await _window(db, access.workspace_id, window_days),
    )
    if format == "csv":
        ws = await _workspace(db, access.workspace_id)
        table = exports.Table("en", ws.currency, ws.timezone)
        cols: list[tuple[str, Unit]] = [
            ("order_id", "id"), ("placed_at", "time"), ("revenue", "money"),
            ("exposure_id", "id"), ("rule_id", "id"), ("outcome", "text"), ("variant", "text"),
            ("same_visit", "text"), ("conversation_id", "id"),
        ]  # fmt: skip
        header = [exports.named(n, u, "en", ws.currency, ws.timezone) for n, u in cols]
        body = [
            [
                table.cell(v, u)
                for v, (_, u) in zip(
                    [r.order_id, datetime.fromtimestamp(r.placed_ms / 1000, UTC), r.revenue,
                     r.exposure_id, r.rule_id, r.outcome, r.variant, r.same_visit,
                     r.conversation_id],
                    cols,
                    strict=True,
                )
            ]
            for r in rows
        ]  # fmt: skip
        return csv_response("attribution.csv", header, body)
    return [_row(r) for r in rows]


async def _workspace(db: AsyncSession, workspace_id: int) -> Workspace:
    ws = await db.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound("no such workspace", field="workspace_id")
    return ws


def _row(r: attribution.Attributed) -> dict[str, Any]:
    return {
        "order_id": r.order_id,
        "revenue": r.revenue,
        "exposure_id": r.exposure_id,
        "rule_id": r.rule_id,
        "outcome": r.outcome,
        "variant": r.variant,
        "same_visit": r.same_visit,
        "conversation_id": r.conversation_id,
    }


@router.get("/kpis")
async def kpi_list(access: MemberAccess) -> list[dict[str, Any]]:
    """Every KPI the reports offer: slug, names (fi/en), unit, and what it is counted per."""
    return metrics.describe()


@router.get("/kpis/{slug}")
async def kpi_values(
    slug: str,
    access: MemberAccess,
    request: Request,
    db: DB,
    start: Start = None,
    end: End = None,
    key: Annotated[
        list[str] | None, Query(description="only these keys (agent, team, rule ids)")
    ] = None,
    window_days: Window = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    kpi = metrics.REGISTRY.get(slug)
    if kpi is None:
        raise NotFound(f"no KPI {slug}; GET …/reports/kpis lists them", field="slug")
    start, end = _range(start, end)
    window = await _window(db, access.workspace_id, window_days)
    rows = await asyncio.to_thread(
        functools.partial(kpi.compute, window_days=window),
        _archive(request),
        access.workspace_id,
        start,
        end,
    )
    if key:
        wanted = set(key)
        rows = [r for r in rows if str(r[0]) in wanted]
    if format == "csv":
        # Named by slug with the unit; money as decimal major units, counts whole.
        ws = await _workspace(db, access.workspace_id)
        col = exports.Col(f"kpi:{slug}")
        unit = col.unit_of()
        table = exports.Table("en", ws.currency, ws.timezone)
        head = exports.named(slug, unit, "en", ws.currency, ws.timezone)
        return csv_response(
            f"{slug}.csv", [kpi.per, head], [[k, table.cell(v, unit)] for k, v in rows]
        )
    return {
        "slug": slug,
        "unit": kpi.unit,
        "per": kpi.per,
        "values": [{"key": str(k), "value": v} for k, v in rows],
    }

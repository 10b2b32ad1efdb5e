"""Reports over the analytics archive: rule experiments and order attribution (docs/analytics.md)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from kohtaamo.analytics import attribution, metrics
from kohtaamo.analytics.archive import Archive
from kohtaamo.auth.dependencies import MemberAccess
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Invalid, NotFound, Unavailable

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/reports", tags=["reports"])
Window = Annotated[int, Query(ge=1, le=90, description="attribution window in days")]


def _archive(request: Request) -> Archive:
    archive: Archive | None = getattr(request.app.state, "archive", None)
    if archive is None:
        # Several workers: the archive belongs to `kohtaamo archive`; reports need its process.
        raise Unavailable("the analytics archive is not open in this process", retry_after=30)
    return archive


@router.get("/rules")
async def rule_report(
    access: MemberAccess, request: Request, window_days: Window = 7
) -> list[dict[str, Any]]:
    archive = _archive(request)
    found = await asyncio.to_thread(
        attribution.experiments, archive, access.workspace_id, window_days=window_days
    )
    return [attribution.as_dict(e) for e in found]


@router.get("/attribution")
async def attribution_report(
    access: MemberAccess,
    request: Request,
    window_days: Window = 7,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    archive = _archive(request)
    rows = await asyncio.to_thread(
        attribution.attribute, archive, access.workspace_id, window_days=window_days
    )
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "order_id",
                "revenue",
                "exposure_id",
                "rule_id",
                "outcome",
                "variant",
                "same_visit",
                "conversation_id",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.order_id,
                    r.revenue,
                    r.exposure_id,
                    r.rule_id,
                    r.outcome,
                    r.variant,
                    r.same_visit,
                    r.conversation_id,
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="attribution.csv"'},
        )
    return [_row(r) for r in rows]


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
    start: Annotated[datetime | None, Query(description="inclusive, ISO 8601 with a zone")] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default now")] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    kpi = metrics.REGISTRY.get(slug)
    if kpi is None:
        raise NotFound(f"no KPI {slug}; GET …/reports/kpis lists them", field="slug")
    end = end or utcnow()
    start = start or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid(
            "start and end need a time zone (e.g. 2026-11-01T00:00:00+02:00)", field="start"
        )
    if end <= start:
        raise Invalid("end must be after start", field="end")
    rows = await asyncio.to_thread(kpi.compute, _archive(request), access.workspace_id, start, end)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([kpi.per, slug])
        writer.writerows(rows)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{slug}.csv"'},
        )
    return {
        "slug": slug,
        "unit": kpi.unit,
        "per": kpi.per,
        "values": [{"key": str(k), "value": v} for k, v in rows],
    }

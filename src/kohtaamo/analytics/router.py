"""Reports over the analytics archive: rule experiments and order attribution (docs/analytics.md)."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from kohtaamo.analytics import attribution
from kohtaamo.analytics.archive import Archive
from kohtaamo.auth.dependencies import MemberAccess
from kohtaamo.kit.errors import Unavailable

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

"""What every report page shares: the member, the workspace, the date range in the workspace's
time zone, the archive, number formatting in the page's language, and CSV answers."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response

from kohtaamo.analytics import metrics
from kohtaamo.analytics.archive import Archive
from kohtaamo.auth.dependencies import page_member
from kohtaamo.auth.models import Role
from kohtaamo.auth.service import Principal
from kohtaamo.kit.clock import as_utc, utcnow
from kohtaamo.shops.models import Workspace
from kohtaamo.shops.service import get_workspace
from kohtaamo.web import numbers
from kohtaamo.web.deps import DB
from kohtaamo.web.templates import locale_of

PRESETS = (7, 30, 90)
MAX_DAYS = 366


@dataclass
class Fmt:
    """Formatting bound to the page's language and the shop's currency (used in templates)."""

    locale: str
    currency: str
    timezone: str = "UTC"

    def when(self, at: datetime) -> str:
        return numbers.when(as_utc(at), self.timezone, self.locale)

    def money(self, minor: float | None, cents: bool = False) -> str:
        return numbers.money(minor, self.currency, self.locale, cents=cents)

    def share(self, value: float | None, digits: int = 1) -> str:
        return numbers.share(value, self.locale, digits)

    def points(self, value: float | None) -> str:
        return numbers.points(value, self.locale)

    def num(self, value: float | None, digits: int = 0) -> str:
        return numbers.number(value, self.locale, digits)

    def secs(self, value: float | None) -> str:
        return numbers.seconds(value, self.locale)

    def p(self, value: float | None) -> str:
        if value is None or value != value:
            return numbers.DASH
        return "< 0.001" if value < 0.001 else numbers.number(value, self.locale, 3)


@dataclass
class View:
    principal: Principal
    role: Role
    ws: Workspace
    archive: Archive | None
    first: date  # local dates, inclusive
    last: date
    start: datetime  # UTC, half-open
    end: datetime
    range_error: str | None
    fmt: Fmt

    def context(self) -> dict[str, Any]:
        return {
            "user": self.principal.user,
            "csrf": self.principal.auth.csrf_token,
            "ws": self.ws,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "presets": PRESETS,
            "range_error": self.range_error,
            "fmt": self.fmt,
            "has_archive": self.archive is not None,
            "fresh_at": self._fresh_at(),
        }

    def _fresh_at(self) -> str | None:
        if self.archive is None:
            return None
        states = [s.filled_at for s in self.archive.states().values() if s.filled_at]
        if not states:
            return None
        return max(states).astimezone(ZoneInfo(self.ws.timezone)).strftime("%H:%M:%S %Z")

    async def kpi(self, slug: str) -> dict[str, Any]:
        """A KPI's values by key (as text) over the page's range; empty without the archive."""
        if self.archive is None:
            return {}
        rows = await asyncio.to_thread(
            lambda: metrics.REGISTRY[slug].compute(
                self.archive,  # type: ignore[arg-type]
                self.ws.id,
                self.start,
                self.end,
                window_days=self.ws.attribution_days,
            )
        )
        return {str(k): v for k, v in rows}


def parse_range(
    raw_from: str | None, raw_to: str | None, today: date, last_days: str | None = None
) -> tuple[date, date, str | None]:
    """Local dates, both inclusive: `from`/`to` (YYYY-MM-DD), or the `last` N days to today."""
    default = (today - timedelta(days=29), today, None)
    if last_days:
        if not last_days.isdigit() or not 1 <= int(last_days) <= MAX_DAYS:
            return (*default[:2], f"last: 1…{MAX_DAYS}")
        return today - timedelta(days=int(last_days) - 1), today, None
    if not raw_from and not raw_to:
        return default
    try:
        last = date.fromisoformat(raw_to) if raw_to else today
        first = date.fromisoformat(raw_from) if raw_from else last - timedelta(days=29)
    except ValueError:
        return (*default[:2], "YYYY-MM-DD")
    if first > last:
        return (*default[:2], "from > to")
    if (last - first).days >= MAX_DAYS:
        return (*default[:2], f"> {MAX_DAYS} days")
    return first, last, None


async def report_view(request: Request, db: DB, ws_id: int) -> View | Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    principal, role = m
    ws = await get_workspace(db, ws_id)
    zone = ZoneInfo(ws.timezone)
    today = utcnow().astimezone(zone).date()
    q = request.query_params
    first, last, error = parse_range(q.get("from"), q.get("to"), today, q.get("last"))
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    locale = locale_of(request, ws.locale)
    archive: Archive | None = getattr(request.app.state, "archive", None)
    return View(
        principal,
        role,
        ws,
        archive if archive is not None and archive.ready() else None,
        first,
        last,
        start,
        end,
        error,
        Fmt(locale, ws.currency, ws.timezone),
    )


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

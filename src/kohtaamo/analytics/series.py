"""Daily series for the owner's charts, in the workspace's time zone (DuckDB over the archive)."""
# ruff: noqa: S608  (the SQL is fixed text; values are bound parameters)

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.people import PEOPLE, person

_DAY = "CAST(timezone($4, {col}) AS DATE)"
DAILY = {
    # People, as shop.visitors counts them: a customer's devices are one visitor.
    "visitors": (
        "WITH "
        + PEOPLE.replace("$ws", "$1")
        + f" SELECT {_DAY.format(col='e.ts')}, count(DISTINCT {person('e.visitor_key')}) "
        "FROM events e LEFT JOIN device_person dp ON dp.visitor_key = e.visitor_key "
        "WHERE e.workspace_id = $1 "
        "AND e.ts >= $2 AND e.ts < $3 AND e.type = 'page_view' GROUP BY 1"
    ),
    "conversations": (
        f"SELECT {_DAY.format(col='created_at')}, count(*) FROM conversations "
        "WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1"
    ),
    "orders": (
        f"SELECT {_DAY.format(col='placed_at')}, count(*) FROM orders WHERE workspace_id = $1 "
        "AND placed_at >= $2 AND placed_at < $3 AND status <> 'cancelled' GROUP BY 1"
    ),
    "revenue": (
        f"SELECT {_DAY.format(col='placed_at')}, sum(total - refunded) FROM orders "
        "WHERE workspace_id = $1 AND placed_at >= $2 AND placed_at < $3 "
        "AND status <> 'cancelled' GROUP BY 1"
    ),
}
RULE_DAILY = {
    "fired": (
        f"SELECT {_DAY.format(col='exposed_at')}, count(*) FROM exposures WHERE workspace_id = $1 "
        "AND exposed_at >= $2 AND exposed_at < $3 AND rule_id = $5 AND outcome = 'fired' GROUP BY 1"
    ),
    "held_out": (
        f"SELECT {_DAY.format(col='exposed_at')}, count(*) FROM exposures WHERE workspace_id = $1 "
        "AND exposed_at >= $2 AND exposed_at < $3 AND rule_id = $5 AND outcome = 'held_out' "
        "GROUP BY 1"
    ),
    "conversations": (
        f"SELECT {_DAY.format(col='created_at')}, count(*) FROM conversations "
        "WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND rule_id = $5 "
        "GROUP BY 1"
    ),
}


@dataclass
class Series:
    days: list[date]
    values: dict[str, list[float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {"days": [d.isoformat() for d in self.days], **self.values}


def _days(start: datetime, end: datetime, tz: str) -> list[date]:
    zone = ZoneInfo(tz)
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily(
    archive: Archive,
    workspace_id: int,
    start: datetime,
    end: datetime,
    tz: str,
    *,
    rule_id: int | None = None,
) -> Series:
    """One value per local day in [start, end) for each series (zero where nothing happened)."""
    out = Series(_days(start, end, tz))
    queries = DAILY if rule_id is None else RULE_DAILY
    params: list[object] = [workspace_id, start.isoformat(), end.isoformat(), tz]
    if rule_id is not None:
        params.append(rule_id)
    for name, sql in queries.items():
        got = dict(archive.query(sql, params))
        out.values[name] = [float(got.get(d, 0) or 0) for d in out.days]
    return out

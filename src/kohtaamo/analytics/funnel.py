"""The shop's funnel: awareness → consideration → purchase → retention → advocacy.

A person counts in a stage when they reached it and every stage before it, within the range
(stage definitions in docs/analytics.md). People are counted as the shop's KPIs count them, and
the purchase stage is the people who placed an order (not cancelled) from any source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.people import PEOPLE, person

STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")

FUNNEL = (
    "WITH "  # noqa: S608 - fixed text; values are bound parameters
    + PEOPLE.replace("$ws", "$1")
    + """,
ev AS (
  -- People as every report counts them (analytics/people.py): an event is its device's person's.
  SELECT """
    + person("e.visitor_key")
    + """ AS who, e.visitor_key, e.visit_key, e.ts, e.type
  FROM events e LEFT JOIN device_person dp ON dp.visitor_key = e.visitor_key
  WHERE e.workspace_id = $1 AND e.ts >= $2 AND e.ts < $3
),
buy AS (
  -- Orders placed in the range from any source (server, shop platform, widget), cancelled
  -- ones out: the people who ordered of shop.conversion, not the widget's purchase events.
  SELECT o.person AS who, min(o.placed_at) AS first_buy
  FROM ord o WHERE o.person IS NOT NULL AND o.placed_at >= $2 AND o.placed_at < $3 GROUP BY 1
),
per AS (
  SELECT who, bool_or(type = 'page_view') AS aware,
         bool_or(type IN ('cart_add', 'checkout_step')) AS considered
  FROM ev GROUP BY who
),
buy_visit AS (
  -- The visit of the first order: the person's last visit at or before it.
  SELECT b.who, arg_max(e.visitor_key, e.ts) AS visitor_key, arg_max(e.visit_key, e.ts) AS visit_key
  FROM buy b JOIN ev e ON e.who = b.who AND e.ts <= b.first_buy GROUP BY b.who
),
retained AS (
  SELECT DISTINCT e.who FROM ev e JOIN buy b USING (who) LEFT JOIN buy_visit v USING (who)
  WHERE e.ts > b.first_buy
    AND (v.visit_key IS NULL OR e.visit_key <> v.visit_key OR e.visitor_key <> v.visitor_key)
),
advocates AS (
  SELECT DISTINCT """
    + person("c.visitor_key")
    + """ AS who FROM conversations c
  LEFT JOIN device_person dp ON dp.visitor_key = c.visitor_key
  WHERE c.workspace_id = $1 AND c.rating = 'up' AND c.created_at >= $2 AND c.created_at < $3
),
staged AS (
  -- An order is past the checkout: whoever ordered has considered.
  SELECT per.who, per.aware, per.considered OR b.who IS NOT NULL AS considered,
         b.who IS NOT NULL AS bought, r.who IS NOT NULL AS kept, a.who IS NOT NULL AS advocate
  FROM per LEFT JOIN buy b USING (who) LEFT JOIN retained r USING (who)
  LEFT JOIN advocates a USING (who)
)
SELECT
  count(*) FILTER (WHERE aware),
  count(*) FILTER (WHERE aware AND considered),
  count(*) FILTER (WHERE aware AND considered AND bought),
  count(*) FILTER (WHERE aware AND considered AND bought AND kept),
  count(*) FILTER (WHERE aware AND considered AND bought AND kept AND advocate)
FROM staged
"""
)


@dataclass(frozen=True, slots=True)
class Step:
    stage: str
    people: int
    of_previous: float | None  # share of the stage before


def funnel(archive: Archive, workspace_id: int, start: datetime, end: datetime) -> list[Step]:
    (row,) = archive.query(FUNNEL, [workspace_id, start.isoformat(), end.isoformat()])
    out: list[Step] = []
    for i, (stage, n) in enumerate(zip(STAGES, row, strict=True)):
        prev = out[i - 1].people if i else None
        out.append(Step(stage, int(n), (int(n) / prev) if prev else None))
    return out

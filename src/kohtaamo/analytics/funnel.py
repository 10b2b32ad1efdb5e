"""The shop's funnel: awareness → consideration → purchase → retention → advocacy.

A visitor counts in a stage when they reached it and every stage before it, within the range
(stage definitions in docs/analytics.md). Counted per person where known: visitor ids that
identified as, or ordered as, the same customer are one person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kohtaamo.analytics.archive import Archive

STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")

FUNNEL = """
WITH people AS (
  SELECT visitor_key, max(props->>'customer_id') AS person
  FROM events WHERE workspace_id = $1 AND type = 'identify' GROUP BY visitor_key
),
visits AS (
  -- One row per visit first (a visit id is its visitor's own: the pair names one visit across
  -- a person's devices); the stages are then read from visits, not from every event.
  SELECT coalesce(p.person, e.visitor_key) AS person, e.visitor_key, e.visit_key,
         max(e.ts) AS last_ts,
         bool_or(e.type = 'page_view') AS aware,
         bool_or(e.type IN ('cart_add', 'checkout_step')) AS considered,
         min(e.ts) FILTER (WHERE e.type = 'purchase') AS bought_at
  FROM events e LEFT JOIN people p ON p.visitor_key = e.visitor_key
  WHERE e.workspace_id = $1 AND e.ts >= $2 AND e.ts < $3
  GROUP BY 1, 2, 3
),
per AS (
  SELECT person, bool_or(aware) AS aware, bool_or(considered) AS considered,
         min(bought_at) AS first_buy,
         arg_min(visitor_key, bought_at) FILTER (WHERE bought_at IS NOT NULL) AS buy_visitor,
         arg_min(visit_key, bought_at) FILTER (WHERE bought_at IS NOT NULL) AS buy_visit
  FROM visits GROUP BY person
),
retained AS (
  SELECT DISTINCT v.person FROM visits v JOIN per p USING (person)
  WHERE p.first_buy IS NOT NULL AND v.last_ts > p.first_buy
    AND (v.visit_key <> p.buy_visit OR v.visitor_key <> p.buy_visitor)
),
advocates AS (
  SELECT DISTINCT coalesce(p.person, c.visitor_key) AS person FROM conversations c
  LEFT JOIN people p ON p.visitor_key = c.visitor_key
  WHERE c.workspace_id = $1 AND c.rating = 'up' AND c.created_at >= $2 AND c.created_at < $3
),
staged AS (
  SELECT per.*, r.person IS NOT NULL AS kept, a.person IS NOT NULL AS advocate
  FROM per LEFT JOIN retained r USING (person) LEFT JOIN advocates a USING (person)
)
SELECT
  count(*) FILTER (WHERE aware),
  count(*) FILTER (WHERE aware AND considered),
  count(*) FILTER (WHERE aware AND considered AND first_buy IS NOT NULL),
  count(*) FILTER (WHERE aware AND considered AND first_buy IS NOT NULL AND kept),
  count(*) FILTER (WHERE aware AND considered AND first_buy IS NOT NULL AND kept AND advocate)
FROM staged
"""


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

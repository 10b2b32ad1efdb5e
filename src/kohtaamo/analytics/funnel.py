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
WITH ev AS (
  SELECT visitor_key, visit_key, type, ts FROM events
  WHERE workspace_id = $1 AND ts >= $2 AND ts < $3
),
people AS (
  SELECT visitor_key, coalesce(max(props->>'customer_id'), visitor_key) AS person
  FROM events WHERE workspace_id = $1 AND type = 'identify' GROUP BY visitor_key
),
who AS (
  SELECT coalesce(p.person, ev.visitor_key) AS person, ev.* FROM ev
  LEFT JOIN people p ON p.visitor_key = ev.visitor_key
),
aware AS (SELECT DISTINCT person FROM who WHERE type = 'page_view'),
consider AS (SELECT DISTINCT person FROM who WHERE type IN ('cart_add', 'checkout_step')),
buys AS (SELECT person, min(ts) AS first_buy FROM who WHERE type = 'purchase' GROUP BY person),
retained AS (
  SELECT DISTINCT b.person FROM buys b JOIN who w ON w.person = b.person
  WHERE w.ts > b.first_buy AND w.visit_key <> (
    SELECT arg_min(visit_key, ts) FROM who x WHERE x.person = b.person AND x.type = 'purchase')
),
advocates AS (
  SELECT DISTINCT coalesce(p.person, c.visitor_key) AS person FROM conversations c
  LEFT JOIN people p ON p.visitor_key = c.visitor_key
  WHERE c.workspace_id = $1 AND c.rating = 'up' AND c.created_at >= $2 AND c.created_at < $3
)
SELECT
  (SELECT count(*) FROM aware),
  (SELECT count(*) FROM aware JOIN consider USING (person)),
  (SELECT count(*) FROM aware JOIN consider USING (person) JOIN buys USING (person)),
  (SELECT count(*) FROM aware JOIN consider USING (person) JOIN buys USING (person)
     JOIN retained USING (person)),
  (SELECT count(*) FROM aware JOIN consider USING (person) JOIN buys USING (person)
     JOIN retained USING (person) JOIN advocates USING (person))
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

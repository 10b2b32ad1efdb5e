"""Which rule and which chat an order goes to, and what each rule earned against its holdout.
All of it is SQL over the archive (DuckDB), per workspace.

**People** are those of `analytics/people.py` (ADR 0013): the customer, else the device. An
order reaches every touch of its person, so a chat on the phone and an order on the laptop meet
once the customer logs in.

**Attribution (last touch).** An order goes to the last exposure (fired *or* held out) of its
person within the window before it, and to the person's last conversation in the same window.
Its outcome and variant are those of the order's person in that rule (their first exposure on
any device, ADR 0013), so one order is never credited to two arms of a rule.
Visit ids are the visitor's own (two devices may both have a visit "s-1"), so a visit is a
(visitor id, visit id) pair. It is *same-visit* when the exposure's visit is the visit of the order (the last visit, at or
before the order, of the visitor id it came with, else of any of the customer's), else
*later-visit*.

Rule experiments (intention to treat) are in `analytics/experiments.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.people import PEOPLE, person

ATTRIBUTION = (
    "WITH "  # noqa: S608 - fixed text; values are bound parameters
    + PEOPLE
    + """,
order_devices AS (
  -- The device the order came with; with none, every device of its customer.
  SELECT id AS order_id, visitor_key FROM ord WHERE visitor_key IS NOT NULL
  UNION ALL SELECT o.id, dp.visitor_key FROM ord o
  JOIN device_person dp ON o.visitor_key IS NULL AND 'c:' || dp.customer_id = o.person
),
order_visit AS (
  -- An order from a device without events has no visit, so no same-visit touch.
  SELECT od.order_id, arg_max(e.visitor_key, e.ts) AS visitor_key,
         arg_max(e.visit_key, e.ts) AS visit_key
  FROM order_devices od JOIN ord o ON o.id = od.order_id
  JOIN events e ON e.workspace_id = $ws AND e.visitor_key = od.visitor_key AND e.ts <= o.placed_at
  GROUP BY od.order_id
),
last_exposure AS (
  -- The last exposure of the order's person (any of their devices) within the window.
  SELECT o.id AS order_id, arg_max(x.id, x.exposed_at) AS exposure_id
  FROM ord o JOIN exp_people x ON x.person = o.person
   AND x.exposed_at <= o.placed_at AND x.exposed_at > o.placed_at - to_days($days)
  GROUP BY o.id
),
chat_people AS (
  SELECT c.id, c.created_at, """
    + person("c.visitor_key")
    + """ AS person
  FROM conversations c LEFT JOIN device_person dp ON dp.visitor_key = c.visitor_key
  WHERE c.workspace_id = $ws
),
last_chat AS (
  SELECT o.id AS order_id, arg_max(c.id, c.created_at) AS conversation_id
  FROM ord o JOIN chat_people c ON c.person = o.person
   AND c.created_at <= o.placed_at AND c.created_at > o.placed_at - to_days($days)
  GROUP BY o.id
)
SELECT o.order_key, o.revenue, x.id, x.rule_id,
       -- The order is credited in its person's arm of the rule (one arm per person and rule).
       fa.arm, fa.variant,
       coalesce(x.visitor_key = v.visitor_key AND x.visit_key = v.visit_key, false) AS same_visit, lc.conversation_id, epoch_ms(o.placed_at)
FROM ord o
LEFT JOIN last_exposure le ON le.order_id = o.id
LEFT JOIN exposures x ON x.id = le.exposure_id
LEFT JOIN first_arms fa ON fa.person = o.person AND fa.rule_id = x.rule_id
LEFT JOIN order_visit v ON v.order_id = o.id
LEFT JOIN last_chat lc ON lc.order_id = o.id
ORDER BY o.placed_at, o.order_key
"""
)


@dataclass(frozen=True, slots=True)
class Attributed:
    order_id: str
    revenue: int
    exposure_id: int | None
    rule_id: int | None
    outcome: str | None
    variant: str | None
    same_visit: bool | None
    conversation_id: int | None
    placed_ms: int


def attribute(archive: Archive, workspace_id: int, *, window_days: int = 7) -> list[Attributed]:
    """Every order's attribution; reused until the archive next changes (a report page asks for
    it once per KPI)."""
    key = ("attribute", workspace_id, window_days, archive.generation)
    hit = archive.memo.get(key)
    if isinstance(hit, list):
        return hit
    rows = archive.query(
        ATTRIBUTION.replace("$ws", "$1").replace("$days", "CAST($2 AS INTEGER)"),
        [workspace_id, window_days],
    )
    found = [Attributed(*r) for r in rows]
    if len(archive.memo) > 32:
        archive.memo.clear()
    archive.memo[key] = found
    return found

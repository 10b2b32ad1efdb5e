"""Which rule and which chat an order goes to, and what each rule earned against its holdout.
All of it is SQL over the archive (DuckDB), per workspace.

**People.** A visitor id belongs to a customer when the visitor identified as them, an order
carried both, or an exposure was made while identified. An order reaches every visitor id of its
customer, so a chat on the phone and an order on the laptop meet once the customer logs in.

**Attribution (last touch).** An order goes to the last exposure (fired *or* held out) of any of
its visitor ids within the window before it, and to the last conversation in the same window.
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

PEOPLE = """
linked AS (
  SELECT visitor_key, props->>'customer_id' AS customer_id, ts AS linked_at FROM events
   WHERE workspace_id = $ws AND type = 'identify'
  UNION ALL SELECT visitor_key, customer_id, placed_at FROM orders
   WHERE workspace_id = $ws AND visitor_key IS NOT NULL AND customer_id IS NOT NULL
  UNION ALL SELECT visitor_key, customer_id, exposed_at FROM exposures
   WHERE workspace_id = $ws AND customer_id IS NOT NULL
),
links AS (SELECT DISTINCT visitor_key, customer_id FROM linked),
ord AS (
  SELECT id, order_key, customer_id, visitor_key, placed_at, total - refunded AS revenue
  FROM orders WHERE workspace_id = $ws AND status <> 'cancelled'
),
ord_visitors AS (
  SELECT id AS order_id, visitor_key FROM ord WHERE visitor_key IS NOT NULL
  UNION SELECT o.id, l.visitor_key FROM ord o JOIN links l ON l.customer_id = o.customer_id
),
-- The person (ADR 0013): the customer, else the device. A visitor id linked to several
-- customers (a shared computer) belongs to the latest; an exposure made while identified, and
-- an order carrying a customer id, to that customer.
device_person AS (
  SELECT visitor_key, first(customer_id ORDER BY linked_at DESC, customer_id DESC) AS customer_id
  FROM linked GROUP BY visitor_key
),
ord_people AS (
  SELECT o.id AS order_id,
         coalesce('c:' || coalesce(o.customer_id, p.customer_id), 'v:' || o.visitor_key) AS person
  FROM ord o LEFT JOIN device_person p ON p.visitor_key = o.visitor_key
),
first_arms AS (
  -- Each person's arm in each rule: that of their first exposure on any device.
  SELECT x.rule_id,
         coalesce('c:' || coalesce(x.customer_id, p.customer_id), 'v:' || x.visitor_key) AS person,
         min(x.exposed_at) AS first_at,
         first(x.outcome ORDER BY x.exposed_at, x.id) AS arm,
         first(x.variant ORDER BY x.exposed_at, x.id) AS variant
  FROM exposures x LEFT JOIN device_person p ON p.visitor_key = x.visitor_key
  WHERE x.workspace_id = $ws AND x.outcome IN ('fired', 'held_out')
  GROUP BY 1, 2
)
"""

ATTRIBUTION = (
    "WITH "  # noqa: S608 - fixed text; values are bound parameters
    + PEOPLE
    + """,
order_visit AS (
  -- The order's own visitor id when it has one (the device it came from), else any of the
  -- customer's; an order from a device without events has no visit, so no same-visit touch.
  SELECT ov.order_id, arg_max(e.visitor_key, e.ts) AS visitor_key,
         arg_max(e.visit_key, e.ts) AS visit_key
  FROM ord_visitors ov JOIN ord o ON o.id = ov.order_id
  JOIN events e ON e.workspace_id = $ws AND e.visitor_key = ov.visitor_key AND e.ts <= o.placed_at
  WHERE o.visitor_key IS NULL OR ov.visitor_key = o.visitor_key
  GROUP BY ov.order_id
),
last_exposure AS (
  SELECT ov.order_id, arg_max(x.id, x.exposed_at) AS exposure_id
  FROM ord_visitors ov JOIN ord o ON o.id = ov.order_id
  JOIN exposures x ON x.workspace_id = $ws AND x.visitor_key = ov.visitor_key
   AND x.outcome IN ('fired', 'held_out')
   AND x.exposed_at <= o.placed_at AND x.exposed_at > o.placed_at - to_days($days)
  GROUP BY ov.order_id
),
last_chat AS (
  SELECT ov.order_id, arg_max(c.id, c.created_at) AS conversation_id
  FROM ord_visitors ov JOIN ord o ON o.id = ov.order_id
  JOIN conversations c ON c.workspace_id = $ws AND c.visitor_key = ov.visitor_key
   AND c.created_at <= o.placed_at AND c.created_at > o.placed_at - to_days($days)
  GROUP BY ov.order_id
)
SELECT o.order_key, o.revenue, x.id, x.rule_id,
       -- The order is credited in its person's arm of the rule (one arm per person and rule).
       CASE WHEN fa.arm IS NULL THEN x.outcome ELSE fa.arm END,
       CASE WHEN fa.arm IS NULL THEN x.variant ELSE fa.variant END,
       coalesce(x.visitor_key = v.visitor_key AND x.visit_key = v.visit_key, false) AS same_visit, lc.conversation_id, epoch_ms(o.placed_at)
FROM ord o
LEFT JOIN last_exposure le ON le.order_id = o.id
LEFT JOIN exposures x ON x.id = le.exposure_id
LEFT JOIN ord_people op ON op.order_id = o.id
LEFT JOIN first_arms fa ON fa.person = op.person AND fa.rule_id = x.rule_id
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

"""Which rule and which chat an order goes to, and what each rule earned against its holdout.
All of it is SQL over the archive (DuckDB), per workspace.

**People.** A visitor id belongs to a customer when the visitor identified as them, an order
carried both, or an exposure was made while identified. An order reaches every visitor id of its
customer, so a chat on the phone and an order on the laptop meet once the customer logs in.

**Attribution (last touch).** An order goes to the last exposure (fired *or* held out) of any of
its visitor ids within the window before it, and to the last conversation in the same window.
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
links AS (
  SELECT DISTINCT visitor_key, props->>'customer_id' AS customer_id FROM events
   WHERE workspace_id = $ws AND type = 'identify'
  UNION SELECT DISTINCT visitor_key, customer_id FROM orders
   WHERE workspace_id = $ws AND visitor_key IS NOT NULL AND customer_id IS NOT NULL
  UNION SELECT DISTINCT visitor_key, customer_id FROM exposures
   WHERE workspace_id = $ws AND customer_id IS NOT NULL
),
ord AS (
  SELECT id, order_key, customer_id, visitor_key, placed_at, total - refunded AS revenue
  FROM orders WHERE workspace_id = $ws AND status <> 'cancelled'
),
ord_visitors AS (
  SELECT id AS order_id, visitor_key FROM ord WHERE visitor_key IS NOT NULL
  UNION SELECT o.id, l.visitor_key FROM ord o JOIN links l ON l.customer_id = o.customer_id
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
SELECT o.order_key, o.revenue, x.id, x.rule_id, x.outcome, x.variant,
       coalesce(x.visitor_key = v.visitor_key AND x.visit_key = v.visit_key, false) AS same_visit, lc.conversation_id, epoch_ms(o.placed_at)
FROM ord o
LEFT JOIN last_exposure le ON le.order_id = o.id
LEFT JOIN exposures x ON x.id = le.exposure_id
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

"""Who a person is, for every report (ADR 0013; docs/analytics.md "People across devices").

A person is the customer, else the device (the visitor id). A device belongs to the customer it
was last linked to: an `identify`, an order carrying both ids, an exposure made while identified
(a shared computer to the latest). An exposure made while identified and an order carrying a
customer id belong to that customer; everything else a device did (events, conversations) is
its person's. The funnel, the shop's KPIs, the daily series, the rule experiments and the
attribution all take their people from here, so a person is the same on every page.

`PEOPLE` is a list of CTEs (workspace as `$ws`); `person(...)` is the SQL expression of one
row's person given its device's `device_person` row joined as `alias`.
"""

from __future__ import annotations


def person(visitor: str, *, customer: str | None = None, alias: str = "dp") -> str:
    """The person of a row: its own customer id when it carries one (exposures, orders), else
    its device's customer, else the device. Prefixed so a customer id never equals a visitor id."""
    cust = f"coalesce({customer}, {alias}.customer_id)" if customer else f"{alias}.customer_id"
    return f"coalesce('c:' || {cust}, 'v:' || {visitor})"


PEOPLE = f"""
linked AS (
  SELECT visitor_key, props->>'customer_id' AS customer_id, ts AS linked_at FROM events
   WHERE workspace_id = $ws AND type = 'identify' AND props->>'customer_id' IS NOT NULL
  UNION ALL SELECT visitor_key, customer_id, placed_at FROM orders
   WHERE workspace_id = $ws AND visitor_key IS NOT NULL AND customer_id IS NOT NULL
  UNION ALL SELECT visitor_key, customer_id, exposed_at FROM exposures
   WHERE workspace_id = $ws AND customer_id IS NOT NULL
),
device_person AS (
  -- Each linked device's customer: the latest link (ties by the larger id, for determinism).
  SELECT visitor_key, first(customer_id ORDER BY linked_at DESC, customer_id DESC) AS customer_id
  FROM linked GROUP BY visitor_key
),
ord AS (
  -- Orders that count (not cancelled), their value less refunds, and their person.
  SELECT o.id, o.order_key, o.customer_id, o.visitor_key, o.placed_at,
         o.total - o.refunded AS revenue,
         {person("o.visitor_key", customer="o.customer_id")} AS person  -- NULL: no ids
  FROM orders o LEFT JOIN device_person dp ON dp.visitor_key = o.visitor_key
  WHERE o.workspace_id = $ws AND o.status <> 'cancelled'
),
ord_people AS (SELECT id AS order_id, person FROM ord WHERE person IS NOT NULL),
exp_people AS (
  -- Exposures that are decisions (fired or held out), with their person.
  SELECT x.id, x.rule_id, x.visitor_key, x.visit_key, x.exposed_at, x.outcome, x.variant,
         {person("x.visitor_key", customer="x.customer_id")} AS person
  FROM exposures x LEFT JOIN device_person dp ON dp.visitor_key = x.visitor_key
  WHERE x.workspace_id = $ws AND x.outcome IN ('fired', 'held_out')
),
first_arms AS (
  -- Each person's arm in each rule: that of their first exposure on any device.
  SELECT rule_id, person, min(exposed_at) AS first_at,
         first(outcome ORDER BY exposed_at, id) AS arm,
         first(variant ORDER BY exposed_at, id) AS variant
  FROM exp_people GROUP BY 1, 2
)
"""  # noqa: S608 - fixed text; values are bound parameters

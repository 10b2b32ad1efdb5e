"""Which rule and which chat an order goes to, and what each rule earned against its holdout.
All of it is SQL over the archive (DuckDB), per workspace.

**People.** A visitor id belongs to a customer when the visitor identified as them, an order
carried both, or an exposure was made while identified. An order reaches every visitor id of its
customer, so a chat on the phone and an order on the laptop meet once the customer logs in.

**Attribution (last touch).** An order goes to the last exposure (fired *or* held out) of any of
its visitor ids within the window before it, and to the last conversation in the same window.
It is *same-visit* when the exposure's visit is the visit of the order (the last visit, at or
before the order, of the visitor id it came with, else of any of the customer's), else
*later-visit*.

**Experiments (intention to treat).** Every visitor's first exposure to a rule puts them in its
arm (fired, with its variant, or held out) for good. Their conversion is any order, not
cancelled, within the window after that moment, whichever touch it is attributed to; revenue is
what is left of those orders after refunds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kohtaamo.analytics import stats
from kohtaamo.analytics.archive import Archive

MIN_SAMPLE = 100  # visitors per arm below which the report warns instead of judging

_PEOPLE = """
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
    + _PEOPLE
    + """,
order_visit AS (
  -- The order's own visitor id when it has one (the device it came from), else any of the
  -- customer's; an order from a device without events has no visit, so no same-visit touch.
  SELECT ov.order_id, arg_max(e.visit_key, e.ts) AS visit_key
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
       coalesce(x.visit_key = v.visit_key, false) AS same_visit, lc.conversation_id, epoch_ms(o.placed_at)
FROM ord o
LEFT JOIN last_exposure le ON le.order_id = o.id
LEFT JOIN exposures x ON x.id = le.exposure_id
LEFT JOIN order_visit v ON v.order_id = o.id
LEFT JOIN last_chat lc ON lc.order_id = o.id
ORDER BY o.placed_at, o.order_key
"""
)

EXPERIMENT = (
    "WITH "  # noqa: S608 - fixed text; values are bound parameters
    + _PEOPLE
    + """,
arms AS (
  SELECT rule_id, visitor_key, min(exposed_at) AS first_at,
         arg_min(outcome, exposed_at) AS arm, arg_min(variant, exposed_at) AS variant
  FROM exposures WHERE workspace_id = $ws AND outcome IN ('fired', 'held_out')
  GROUP BY rule_id, visitor_key
),
per_visitor AS (
  SELECT a.rule_id, a.arm, a.variant, a.visitor_key,
         count(o.id) AS orders, coalesce(sum(o.revenue), 0) AS revenue
  FROM arms a
  LEFT JOIN ord_visitors ov ON ov.visitor_key = a.visitor_key
  LEFT JOIN ord o ON o.id = ov.order_id
   AND o.placed_at >= a.first_at AND o.placed_at <= a.first_at + to_days($days)
  GROUP BY a.rule_id, a.arm, a.variant, a.visitor_key
)
SELECT rule_id, arm, variant, count(*) AS visitors,
       count(*) FILTER (WHERE orders > 0) AS converted,
       sum(orders) AS orders, sum(revenue) AS revenue,
       avg(revenue) AS rpv, coalesce(var_samp(revenue), 0) AS rpv_var
FROM per_visitor GROUP BY rule_id, arm, variant ORDER BY rule_id, arm, variant
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
    rows = archive.query(
        ATTRIBUTION.replace("$ws", "$1").replace("$days", "CAST($2 AS INTEGER)"),
        [workspace_id, window_days],
    )
    return [Attributed(*r) for r in rows]


@dataclass(slots=True)
class Arm:
    arm: str  # "fired" or "held_out"
    variant: str | None
    visitors: int
    converted: int
    orders: int
    revenue: int
    rpv: float
    rpv_var: float

    @property
    def conversion(self) -> float:
        return self.converted / self.visitors if self.visitors else 0.0

    @property
    def aov(self) -> float:
        return self.revenue / self.orders if self.orders else 0.0

    def interval(self) -> tuple[float, float]:
        return stats.wilson(self.converted, self.visitors)


@dataclass(slots=True)
class Experiment:
    rule_id: int
    exposed: Arm
    holdout: Arm
    uplift: float  # conversion: exposed minus holdout (absolute)
    uplift_interval: tuple[float, float]
    p_conversion: float
    p_revenue: float | None
    warnings: list[str] = field(default_factory=list)


def _combine(arms: list[Arm], name: str) -> Arm:
    """Every variant of the fired arm together (pooled sizes, means and variances)."""
    n = sum(a.visitors for a in arms)
    if n == 0:
        return Arm(name, None, 0, 0, 0, 0, 0.0, 0.0)
    mean = sum(a.rpv * a.visitors for a in arms) / n
    # Pooled sample variance from the groups' variances and their means' spread.
    ss = sum((a.visitors - 1) * a.rpv_var + a.visitors * (a.rpv - mean) ** 2 for a in arms)
    return Arm(
        name,
        None,
        n,
        sum(a.converted for a in arms),
        sum(a.orders for a in arms),
        sum(a.revenue for a in arms),
        mean,
        ss / (n - 1) if n > 1 else 0.0,
    )


def experiments(archive: Archive, workspace_id: int, *, window_days: int = 7) -> list[Experiment]:
    rows = archive.query(
        EXPERIMENT.replace("$ws", "$1").replace("$days", "CAST($2 AS INTEGER)"),
        [workspace_id, window_days],
    )
    by_rule: dict[int, list[Arm]] = {}
    for rule_id, arm, variant, visitors, converted, orders, revenue, rpv, var in rows:
        by_rule.setdefault(int(rule_id), []).append(
            Arm(
                arm,
                variant,
                int(visitors),
                int(converted),
                int(orders or 0),
                int(revenue or 0),
                float(rpv or 0.0),
                float(var or 0.0),
            )
        )
    out = []
    for rule_id, arms in sorted(by_rule.items()):
        exposed = _combine([a for a in arms if a.arm == "fired"], "fired")
        holdout = _combine([a for a in arms if a.arm == "held_out"], "held_out")
        out.append(_judge(rule_id, exposed, holdout))
    return out


def _judge(rule_id: int, exposed: Arm, holdout: Arm) -> Experiment:
    warnings = []
    if min(exposed.visitors, holdout.visitors) < MIN_SAMPLE:
        warnings.append(f"fewer than {MIN_SAMPLE} visitors in an arm: not enough data yet")
    if exposed.visitors and holdout.visitors:
        z = stats.two_proportion_ztest(
            exposed.converted, exposed.visitors, holdout.converted, holdout.visitors
        )
        interval = stats.newcombe(
            exposed.converted, exposed.visitors, holdout.converted, holdout.visitors
        )
        p_conversion = z.p
    else:
        interval, p_conversion = (float("nan"), float("nan")), float("nan")
    p_revenue = None
    if exposed.visitors >= 2 and holdout.visitors >= 2:
        p_revenue = stats.welch_moments(
            exposed.visitors,
            exposed.rpv,
            exposed.rpv_var,
            holdout.visitors,
            holdout.rpv,
            holdout.rpv_var,
        ).p
    return Experiment(
        rule_id,
        exposed,
        holdout,
        exposed.conversion - holdout.conversion,
        interval,
        p_conversion,
        p_revenue,
        warnings,
    )


def as_dict(e: Experiment) -> dict[str, Any]:
    def arm(a: Arm) -> dict[str, Any]:
        low, high = a.interval()
        return {
            "visitors": a.visitors,
            "converted": a.converted,
            "conversion": a.conversion,
            "conversion_interval": [low, high],
            "orders": a.orders,
            "revenue": a.revenue,
            "revenue_per_visitor": a.rpv,
            "aov": a.aov,
        }

    return {
        "rule_id": e.rule_id,
        "exposed": arm(e.exposed),
        "holdout": arm(e.holdout),
        "uplift": e.uplift,
        "uplift_interval": list(e.uplift_interval),
        "p_conversion": e.p_conversion,
        "p_revenue": e.p_revenue,
        "warnings": e.warnings,
    }

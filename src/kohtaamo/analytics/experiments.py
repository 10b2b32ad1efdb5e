"""What each rule earned against its holdout (intention to treat), with intervals, fixed-horizon
p-values and an always-valid sequential p-value for daily looks. SQL over the archive (DuckDB).

Every person's first exposure to a rule, on any of their devices, puts them in its arm (fired,
with its variant, or held out) for good; a person is the customer, else the device (ADR 0013).
Their conversion is any of their orders, not cancelled, on any device, within the window after
that moment, whichever touch it is attributed to; revenue is what is left of those orders after
refunds. Each order belongs to one person, so it counts in one arm of a rule.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kohtaamo.analytics import stats
from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.people import PEOPLE
from kohtaamo.kit.clock import utcnow

MIN_SAMPLE = 100  # visitors per arm below which the report warns instead of judging
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))

# One row per (rule, arm, variant, day of first exposure, day of first conversion): few enough
# to bring to Python, and enough for both the totals (sums and sums of squares) and the daily
# looks of the sequential test.
EXPERIMENT = (
    "WITH "  # noqa: S608 - fixed text; values are bound parameters
    + PEOPLE
    + """,
arms AS (
  SELECT rule_id, person, first_at, arm, variant FROM first_arms
  WHERE first_at >= $start AND first_at < $end
),
per_visitor AS (
  SELECT a.rule_id, a.arm, a.variant, a.first_at, min(o.placed_at) AS converted_at,
         count(o.id) AS orders, coalesce(sum(o.revenue), 0) AS revenue
  FROM arms a
  LEFT JOIN ord_people op ON op.person = a.person
  LEFT JOIN ord o ON o.id = op.order_id
   -- One window edge for attribution and experiments: e <= t < e + window.
   AND o.placed_at >= a.first_at AND o.placed_at < a.first_at + to_days($days)
  GROUP BY a.rule_id, a.arm, a.variant, a.person, a.first_at
)
SELECT rule_id, arm, variant,
       CAST(epoch(date_trunc('day', first_at)) / 86400 AS INTEGER) AS first_day,
       CAST(epoch(date_trunc('day', converted_at)) / 86400 AS INTEGER) AS converted_day,
       count(*), sum(orders), sum(revenue), sum(CAST(revenue AS DOUBLE) * revenue)
FROM per_visitor GROUP BY ALL
"""
)


@dataclass(slots=True)
class Arm:
    arm: str  # "fired" or "held_out"
    variant: str | None
    visitors: int = 0
    converted: int = 0
    orders: int = 0
    revenue: int = 0
    revenue_sq: float = 0.0

    @property
    def conversion(self) -> float:
        return self.converted / self.visitors if self.visitors else 0.0

    @property
    def aov(self) -> float:
        return self.revenue / self.orders if self.orders else 0.0

    @property
    def rpv(self) -> float:
        return self.revenue / self.visitors if self.visitors else 0.0

    @property
    def rpv_var(self) -> float:
        n = self.visitors
        if n < 2:
            return 0.0
        return max(0.0, (self.revenue_sq - self.revenue * self.revenue / n) / (n - 1))

    def interval(self) -> tuple[float, float]:
        return stats.wilson(self.converted, self.visitors)

    def add(self, visitors: int, converted: int, orders: int, revenue: int, sq: float) -> None:
        self.visitors += visitors
        self.converted += converted
        self.orders += orders
        self.revenue += revenue
        self.revenue_sq += sq


@dataclass(slots=True)
class Experiment:
    rule_id: int
    exposed: Arm
    holdout: Arm
    variants: list[Arm]
    uplift: float  # conversion: exposed minus holdout (absolute)
    uplift_interval: tuple[float, float]
    p_conversion: float
    p_revenue: float | None
    p_sequential: float  # always valid: the running minimum over daily looks
    looks: int
    warnings: list[str] = field(default_factory=list)


def experiments(
    archive: Archive,
    workspace_id: int,
    *,
    window_days: int = 7,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Experiment]:
    """Per rule, the visitors whose first exposure lies in [start, end) (default: all)."""
    lo, hi = start or ALL_TIME[0], end or ALL_TIME[1]
    rows = archive.query(
        EXPERIMENT.replace("$ws", "$1")
        .replace("$days", "CAST($2 AS INTEGER)")
        .replace("$start", "CAST($3 AS TIMESTAMPTZ)")
        .replace("$end", "CAST($4 AS TIMESTAMPTZ)"),
        [workspace_id, window_days, lo.isoformat(), hi.isoformat()],
    )
    arms: dict[int, dict[tuple[str, str | None], Arm]] = defaultdict(dict)
    # Daily looks: new visitors by first day, new conversions by day, per rule and arm.
    daily: dict[int, dict[str, dict[int, list[int]]]] = defaultdict(lambda: defaultdict(dict))
    for rule_id, arm, variant, first_day, conv_day, n, orders, revenue, sq in rows:
        rule_id, n = int(rule_id), int(n)
        converted = n if conv_day is not None else 0
        a = arms[rule_id].setdefault((arm, variant), Arm(arm, variant))
        a.add(n, converted, int(orders or 0), int(revenue or 0), float(sq or 0.0))
        days = daily[rule_id][arm]
        days.setdefault(int(first_day), [0, 0])[0] += n
        if conv_day is not None:
            days.setdefault(int(conv_day), [0, 0])[1] += n
    out = []
    for rule_id, by_arm in sorted(arms.items()):
        fired = [
            a for (arm, _), a in sorted(by_arm.items(), key=lambda kv: str(kv[0])) if arm == "fired"
        ]
        exposed, holdout = Arm("fired", None), Arm("held_out", None)
        for a in fired:
            exposed.add(a.visitors, a.converted, a.orders, a.revenue, a.revenue_sq)
        if ("held_out", None) in by_arm:
            h = by_arm[("held_out", None)]
            holdout.add(h.visitors, h.converted, h.orders, h.revenue, h.revenue_sq)
        p_seq, looks = _sequential(daily[rule_id])
        out.append(_judge(rule_id, exposed, holdout, fired, p_seq, looks))
    return out


def _sequential(daily: dict[str, dict[int, list[int]]]) -> tuple[float, int]:
    """The always-valid p over one look per day (cumulative counts at each day's end), every
    day (UTC) from the first exposure to today, news or not."""
    seen = set(daily["fired"]) | set(daily["held_out"])
    today = int(utcnow().timestamp() // 86400)
    days = range(min(seen), max(*seen, today) + 1) if seen else range(0)
    cum = {"fired": [0, 0], "held_out": [0, 0]}
    looks = []
    for d in days:
        for arm in cum:
            n, x = daily[arm].get(d, (0, 0))
            cum[arm][0] += n
            cum[arm][1] += x
        looks.append((cum["fired"][1], cum["fired"][0], cum["held_out"][1], cum["held_out"][0]))
    return stats.always_valid(looks), len(looks)


def _judge(
    rule_id: int, exposed: Arm, holdout: Arm, variants: list[Arm], p_seq: float, looks: int
) -> Experiment:
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
        interval, p_conversion = (math.nan, math.nan), math.nan
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
        variants,
        exposed.conversion - holdout.conversion,
        interval,
        p_conversion,
        p_revenue,
        p_seq,
        looks,
        warnings,
    )


def _num(x: float | None) -> float | None:
    """NaN is not JSON: an undefined figure is null."""
    return None if x is None or math.isnan(x) else x


def arm_dict(a: Arm) -> dict[str, Any]:
    low, high = a.interval() if a.visitors else (math.nan, math.nan)
    return {
        "variant": a.variant,
        "visitors": a.visitors,
        "converted": a.converted,
        "conversion": a.conversion,
        "conversion_interval": [_num(low), _num(high)],
        "orders": a.orders,
        "revenue": a.revenue,
        "revenue_per_visitor": a.rpv,
        "aov": a.aov,
    }


def as_dict(e: Experiment) -> dict[str, Any]:
    return {
        "rule_id": e.rule_id,
        "exposed": arm_dict(e.exposed),
        "holdout": arm_dict(e.holdout),
        "variants": [arm_dict(v) for v in e.variants],
        "uplift": e.uplift,
        "uplift_interval": [_num(x) for x in e.uplift_interval],
        "p_conversion": _num(e.p_conversion),
        "p_revenue": _num(e.p_revenue),
        "p_sequential": e.p_sequential,
        "looks": e.looks,
        "warnings": e.warnings,
    }

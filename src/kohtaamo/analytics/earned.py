"""What a rule *earned*: incremental revenue against its holdout, not the revenue its last touch
was credited with (a rule shown to everyone about to buy anyway is credited with their orders
and earns nothing).

incremental = (revenue per visitor, shown - held out) * visitors shown, with its 95 % interval
from Welch's interval of the difference in revenue per visitor times the same count
(docs/analytics.md, "Glossary").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kohtaamo.analytics import stats
from kohtaamo.analytics.experiments import Experiment


@dataclass(frozen=True, slots=True)
class Earned:
    value: float | None  # minor units; None without visitors in both arms
    low: float | None  # None until each arm has two visitors
    high: float | None


def incremental(e: Experiment | None) -> Earned:
    if e is None or not (e.exposed.visitors and e.holdout.visitors):
        return Earned(None, None, None)
    n = e.exposed.visitors
    value = (e.exposed.rpv - e.holdout.rpv) * n
    if min(e.exposed.visitors, e.holdout.visitors) < 2:
        return Earned(value, None, None)
    w = stats.welch_moments(
        e.exposed.visitors,
        e.exposed.rpv,
        e.exposed.rpv_var,
        e.holdout.visitors,
        e.holdout.rpv,
        e.holdout.rpv_var,
    )
    low, high = w.low * n, w.high * n
    if math.isnan(low) or math.isnan(high):
        return Earned(value, None, None)
    return Earned(value, low, high)


def as_dict(e: Experiment) -> dict[str, Any]:
    got = incremental(e)
    return {"incremental_revenue": got.value, "incremental_revenue_interval": [got.low, got.high]}

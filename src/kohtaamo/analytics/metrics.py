"""KPIs as small declared classes in one registry (after Polar's `metrics.py`): each has a slug,
its names, a unit, what it is counted per, and how it is computed over the archive.

A KPI is either one DuckDB `query` taking the workspace ($1) and a half-open time range
[$2, $3), or a `rows(ask)` override. Both give (key, value) rows; the key is an agent's user
id, a team id (or "all"), a rule id, or a shop-level label. The KPIs themselves are in
`analytics/kpis/` (agents, rules, shop); docs/analytics.md defines each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from kohtaamo.analytics.archive import Archive

Per = Literal["agent", "team", "rule", "shop"]
Unit = Literal["count", "share", "seconds", "messages", "money"]


@dataclass(frozen=True, slots=True)
class Ask:
    """What a KPI is asked for: one workspace, a half-open time range, the attribution window."""

    archive: Archive
    workspace_id: int
    start: datetime
    end: datetime
    window_days: int = 7

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """`query` with $1 the workspace and [$2, $3) the range."""
        return self.archive.query(
            query, [self.workspace_id, self.start.isoformat(), self.end.isoformat()]
        )


class Kpi:
    slug: ClassVar[str]
    name: ClassVar[dict[str, str]]
    unit: ClassVar[Unit]
    per: ClassVar[Per]
    query: ClassVar[str] = ""
    # Counts and sums list every key in scope (each rule, agent), zero where nothing happened;
    # averages and shares of nothing are undefined and stay out.
    zero: ClassVar[bool] = False

    @classmethod
    def compute(
        cls,
        archive: Archive,
        workspace_id: int,
        start: datetime,
        end: datetime,
        *,
        window_days: int = 7,
    ) -> list[tuple[Any, Any]]:
        ask = Ask(archive, workspace_id, start, end, window_days)
        rows = cls.rows(ask)
        if not cls.zero or cls.per not in SCOPE:
            return rows
        have = {str(k) for k, _ in rows}
        missing = [(k, 0) for (k,) in ask.sql(SCOPE[cls.per]) if str(k) not in have]
        return sorted([*rows, *missing], key=lambda kv: (str(type(kv[0])), kv[0]))

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        return ask.sql(cls.query)


# Who a per-rule or per-agent KPI lists: the workspace's rules, and its agents (anyone with chat
# settings) and anyone assigned a conversation ($2, $3 unused but bound).
SCOPE: dict[str, str] = {
    "rule": "SELECT id FROM rules WHERE workspace_id = $1 AND $2 IS NOT NULL AND $3 IS NOT NULL",
    "agent": (
        "SELECT user_id FROM agents WHERE workspace_id = $1 AND $2 IS NOT NULL "
        "AND $3 IS NOT NULL UNION SELECT DISTINCT assignee_id FROM conversations "
        "WHERE workspace_id = $1 AND assignee_id IS NOT NULL"
    ),
}

REGISTRY: dict[str, type[Kpi]] = {}


def kpi(cls: type[Kpi]) -> type[Kpi]:
    REGISTRY[cls.slug] = cls
    return cls


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (DuckDB's quantile_cont, numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def describe() -> list[dict[str, Any]]:
    return [
        {"slug": k.slug, "name": k.name, "unit": k.unit, "per": k.per} for k in REGISTRY.values()
    ]


# The KPI modules register themselves on import; they import this module's base first.
from kohtaamo.analytics.kpis import agents, rules, shop  # noqa: E402, F401

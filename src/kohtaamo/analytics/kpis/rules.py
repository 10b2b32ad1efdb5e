"""Per rule: what it did (fired, held out, suppressed, chats), what followed (orders, revenue,
AOV, CSAT) and what it earned against its holdout (uplift). Exposures and conversations count
in the range they happened in; orders in the range they were placed in, credited by last touch
(analytics.attribution); uplift compares the visitors first exposed in the range
(analytics.experiments)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kohtaamo.analytics.attribution import Attributed, attribute
from kohtaamo.analytics.experiments import experiments
from kohtaamo.analytics.metrics import Ask, Kpi, kpi

_EXP = "FROM exposures WHERE workspace_id = $1 AND exposed_at >= $2 AND exposed_at < $3"
_CONV = "FROM conversations WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3"


@kpi
class RuleFired(Kpi):
    slug, unit, per = "rule.fired", "count", "rule"
    zero = True
    name = {"fi": "Lauenneet", "en": "Fired"}
    query = f"SELECT rule_id, count(*) {_EXP} AND outcome = 'fired' GROUP BY 1 ORDER BY 1"


@kpi
class RuleHeldOut(Kpi):
    slug, unit, per = "rule.held_out", "count", "rule"
    zero = True
    name = {"fi": "Vertailuryhmässä", "en": "Held out"}
    query = f"SELECT rule_id, count(*) {_EXP} AND outcome = 'held_out' GROUP BY 1 ORDER BY 1"


@kpi
class RuleSuppressed(Kpi):
    slug, unit, per = "rule.suppressed", "count", "rule"
    name = {"fi": "Estetyt (syyn mukaan)", "en": "Suppressed (by reason)"}
    query = (
        f"SELECT rule_id || ':' || coalesce(reason, '?'), count(*) {_EXP} "
        "AND outcome = 'suppressed' GROUP BY 1 ORDER BY 1"
    )


@kpi
class RuleChatsOpened(Kpi):
    slug, unit, per = "rule.chats_opened", "count", "rule"
    zero = True
    name = {
        "fi": "Avaukset (chatin avaavat laukeamiset)",
        "en": "Chat openings (firings that open the chat)",
    }
    # A fired rule whose action opens the chat panel with its message.
    query = (
        "SELECT x.rule_id, count(*) FROM exposures x JOIN rules r ON r.id = x.rule_id "
        "WHERE x.workspace_id = $1 AND x.exposed_at >= $2 AND x.exposed_at < $3 "
        "AND x.outcome = 'fired' AND r.action = 'open_chat' GROUP BY 1 ORDER BY 1"
    )


@kpi
class RuleReplied(Kpi):
    slug, unit, per = "rule.visitor_replied", "count", "rule"
    zero = True
    name = {"fi": "Keskustelut", "en": "Conversations"}  # the rule's conversations
    # A rule's conversation exists once the visitor answers its opening message.
    query = f"SELECT rule_id, count(*) {_CONV} AND rule_id IS NOT NULL GROUP BY 1 ORDER BY 1"


@kpi
class RuleCsat(Kpi):
    slug, unit, per = "rule.csat", "share", "rule"
    name = {"fi": "Tyytyväisyys (peukut)", "en": "CSAT (thumbs)"}
    query = (
        "SELECT rule_id, avg(CASE WHEN rating = 'up' THEN 1.0 ELSE 0.0 END) "
        f"{_CONV} AND rule_id IS NOT NULL AND rating IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


def _credited(ask: Ask) -> dict[int, list[Attributed]]:
    """Orders placed in the range whose last touch was the rule and whose person is in its
    treated arm (ADR 0013: the arm the rules report counts them in), per rule."""
    lo, hi = ask.start.timestamp() * 1000, ask.end.timestamp() * 1000
    out: dict[int, list[Attributed]] = defaultdict(list)
    for a in attribute(ask.archive, ask.workspace_id, window_days=ask.window_days):
        if a.rule_id is not None and a.outcome == "fired" and lo <= a.placed_ms < hi:
            out[a.rule_id].append(a)
    return out


class _Credited(Kpi):
    @classmethod
    def value(cls, orders: list[Attributed]) -> Any:
        raise NotImplementedError

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        by_rule = _credited(ask)
        return sorted((rule, cls.value(orders)) for rule, orders in by_rule.items())


@kpi
class RuleConversionsSameVisit(_Credited):
    slug, unit, per = "rule.conversions_same_visit", "count", "rule"
    zero = True
    name = {"fi": "Tilaukset samalla käynnillä", "en": "Orders in the same visit"}

    @classmethod
    def value(cls, orders: list[Attributed]) -> Any:
        return sum(1 for a in orders if a.same_visit)


@kpi
class RuleConversionsWindow(_Credited):
    slug, unit, per = "rule.conversions_window", "count", "rule"
    zero = True
    name = {"fi": "Tilaukset (viimeinen kosketus)", "en": "Orders (last touch)"}

    @classmethod
    def value(cls, orders: list[Attributed]) -> Any:
        return len(orders)


@kpi
class RuleRevenue(_Credited):
    slug, unit, per = "rule.revenue", "money", "rule"
    zero = True
    name = {"fi": "Myynti (viimeinen kosketus)", "en": "Revenue (last touch)"}

    @classmethod
    def value(cls, orders: list[Attributed]) -> Any:
        return sum(a.revenue for a in orders)


@kpi
class RuleAov(_Credited):
    slug, unit, per = "rule.aov", "money", "rule"
    name = {"fi": "Keskiostos (viimeinen kosketus)", "en": "Average order (last touch)"}

    @classmethod
    def value(cls, orders: list[Attributed]) -> Any:
        return sum(a.revenue for a in orders) / len(orders)


@kpi
class RuleUplift(Kpi):
    slug, unit, per = "rule.uplift", "share", "rule"
    name = {"fi": "Konversion nousu vs. vertailuryhmä", "en": "Conversion uplift vs holdout"}

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        """Exposed minus held-out conversion, for rules with visitors in both arms (the full
        report with intervals and p-values is …/reports/rules)."""
        found = experiments(
            ask.archive, ask.workspace_id, window_days=ask.window_days, start=ask.start, end=ask.end
        )
        return [(e.rule_id, e.uplift) for e in found if e.exposed.visitors and e.holdout.visitors]

"""KPIs as small declared classes in one registry (after Polar's `metrics.py`): each has a slug,
its names, a unit, what it is counted per, and one DuckDB query over the archive.

Every query takes the workspace ($1) and a half-open time range [$2, $3) and returns
(key, value) rows: the key is an agent's user id, a rule id, or "shop".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.attribution import attribute

Per = Literal["agent", "rule", "shop"]
Unit = Literal["count", "share", "seconds", "messages", "money"]


class Kpi:
    slug: ClassVar[str]
    name: ClassVar[dict[str, str]]
    unit: ClassVar[Unit]
    per: ClassVar[Per]
    query: ClassVar[str]

    @classmethod
    def compute(
        cls, archive: Archive, workspace_id: int, start: datetime, end: datetime
    ) -> list[tuple[Any, Any]]:
        return archive.query(cls.query, [workspace_id, start.isoformat(), end.isoformat()])


REGISTRY: dict[str, type[Kpi]] = {}


def kpi(cls: type[Kpi]) -> type[Kpi]:
    REGISTRY[cls.slug] = cls
    return cls


_CONV = "FROM conversations WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3"


@kpi
class AgentConversations(Kpi):
    slug, unit, per = "agent.conversations", "count", "agent"
    name = {"fi": "Keskustelut", "en": "Conversations"}
    query = (
        f"SELECT assignee_id, count(*) {_CONV} AND assignee_id IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


@kpi
class AgentThumbsUp(Kpi):
    slug, unit, per = "agent.thumbs_up_share", "share", "agent"
    name = {"fi": "Peukku ylös -osuus", "en": "Thumbs-up share"}
    query = (
        "SELECT assignee_id, avg(CASE WHEN rating = 'up' THEN 1.0 ELSE 0.0 END) "
        f"{_CONV} AND assignee_id IS NOT NULL AND rating IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


@kpi
class AgentFirstResponseMedian(Kpi):
    slug, unit, per = "agent.first_response_median", "seconds", "agent"
    name = {"fi": "Ensivastausaika (mediaani)", "en": "First response time (median)"}
    query = (
        "SELECT assignee_id, median(epoch(first_response_at) - epoch(created_at)) "
        f"{_CONV} AND assignee_id IS NOT NULL AND first_response_at IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


@kpi
class AgentFirstResponseP90(Kpi):
    slug, unit, per = "agent.first_response_p90", "seconds", "agent"
    name = {"fi": "Ensivastausaika (p90)", "en": "First response time (p90)"}
    query = (
        "SELECT assignee_id, quantile_cont(epoch(first_response_at) - epoch(created_at), 0.9) "
        f"{_CONV} AND assignee_id IS NOT NULL AND first_response_at IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


@kpi
class AgentMessages(Kpi):
    slug, unit, per = "agent.messages_per_conversation", "messages", "agent"
    name = {"fi": "Viestejä keskustelussa", "en": "Messages per conversation"}
    query = f"SELECT assignee_id, avg(messages_count) {_CONV} AND assignee_id IS NOT NULL GROUP BY 1 ORDER BY 1"


@kpi
class AgentConversion(Kpi):
    slug, unit, per = "agent.conversion", "share", "agent"
    name = {"fi": "Keskustelujen konversio", "en": "Conversion of conversations"}
    # An order by the conversation's visitor within 7 days after it opened.
    query = (
        "SELECT c.assignee_id, avg(CASE WHEN EXISTS (SELECT 1 FROM orders o WHERE "
        "o.workspace_id = c.workspace_id AND o.visitor_key = c.visitor_key AND o.status <> 'cancelled' "
        "AND o.placed_at >= c.created_at AND o.placed_at < c.created_at + INTERVAL 7 DAY) "
        "THEN 1.0 ELSE 0.0 END) FROM conversations c WHERE c.workspace_id = $1 "
        "AND c.created_at >= $2 AND c.created_at < $3 AND c.assignee_id IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


@kpi
class AgentForwarded(Kpi):
    slug, unit, per = "agent.forwarded_share", "share", "agent"
    name = {"fi": "Siirrettyjen osuus", "en": "Share forwarded"}
    # Of the conversations an agent had (assigned now, or handed on by them), the share they
    # forwarded to someone else.
    query = """
    WITH had AS (
      SELECT assignee_id AS agent, id FROM conversations
      WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND assignee_id IS NOT NULL
      UNION
      SELECT f.from_user_id, f.conversation_id FROM forwards f JOIN conversations c
        ON c.id = f.conversation_id
      WHERE f.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3
        AND f.from_user_id IS NOT NULL),
    gave AS (SELECT DISTINCT from_user_id AS agent, conversation_id AS id FROM forwards
      WHERE workspace_id = $1 AND from_user_id IS NOT NULL)
    SELECT had.agent, avg(CASE WHEN gave.id IS NULL THEN 0.0 ELSE 1.0 END)
    FROM had LEFT JOIN gave ON gave.agent = had.agent AND gave.id = had.id
    GROUP BY 1 ORDER BY 1
    """


_EXP = "FROM exposures WHERE workspace_id = $1 AND exposed_at >= $2 AND exposed_at < $3"


@kpi
class RuleFired(Kpi):
    slug, unit, per = "rule.fired", "count", "rule"
    name = {"fi": "Avatut", "en": "Fired"}
    query = f"SELECT rule_id, count(*) {_EXP} AND outcome = 'fired' GROUP BY 1 ORDER BY 1"


@kpi
class RuleHeldOut(Kpi):
    slug, unit, per = "rule.held_out", "count", "rule"
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
class RuleChats(Kpi):
    slug, unit, per = "rule.chats", "count", "rule"
    name = {"fi": "Keskustelut (kävijä vastasi)", "en": "Chats (the visitor replied)"}
    query = f"SELECT rule_id, count(*) {_CONV} AND rule_id IS NOT NULL GROUP BY 1 ORDER BY 1"


@kpi
class RuleCsat(Kpi):
    slug, unit, per = "rule.csat", "share", "rule"
    name = {"fi": "Tyytyväisyys (peukut)", "en": "CSAT (thumbs)"}
    query = (
        "SELECT rule_id, avg(CASE WHEN rating = 'up' THEN 1.0 ELSE 0.0 END) "
        f"{_CONV} AND rule_id IS NOT NULL AND rating IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


@kpi
class ShopChatterConversion(Kpi):
    slug, unit, per = "shop.conversion_chatters_vs_not", "share", "shop"
    name = {"fi": "Konversio: chattailijat vs. muut", "en": "Conversion: chatters vs others"}
    query = """
    WITH v AS (
      SELECT DISTINCT visitor_key FROM events
      WHERE workspace_id = $1 AND ts >= $2 AND ts < $3 AND type = 'page_view'),
    chat AS (SELECT DISTINCT visitor_key FROM conversations
      WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3),
    buy AS (SELECT DISTINCT visitor_key FROM orders
      WHERE workspace_id = $1 AND placed_at >= $2 AND placed_at < $3 AND status <> 'cancelled')
    SELECT CASE WHEN chat.visitor_key IS NULL THEN 'others' ELSE 'chatters' END,
           avg(CASE WHEN buy.visitor_key IS NULL THEN 0.0 ELSE 1.0 END)
    FROM v LEFT JOIN chat USING (visitor_key) LEFT JOIN buy USING (visitor_key)
    GROUP BY 1 ORDER BY 1
    """


class _Attributed(Kpi):
    """KPIs over attributed orders (analytics.attribution): orders placed in the range."""

    query = ""

    @classmethod
    def rows(cls, archive: Archive, workspace_id: int, start: datetime, end: datetime) -> list[Any]:
        lo, hi = start.timestamp() * 1000, end.timestamp() * 1000
        return [a for a in attribute(archive, workspace_id) if lo <= a.placed_ms < hi]


@kpi
class RuleConversionsSameVisit(_Attributed):
    slug, unit, per = "rule.conversions_same_visit", "count", "rule"
    name = {"fi": "Tilaukset samalla käynnillä", "en": "Orders in the same visit"}

    @classmethod
    def compute(
        cls, archive: Archive, workspace_id: int, start: datetime, end: datetime
    ) -> list[tuple[Any, Any]]:
        out: dict[int, int] = {}
        for a in cls.rows(archive, workspace_id, start, end):
            if a.rule_id is not None and a.outcome == "fired" and a.same_visit:
                out[a.rule_id] = out.get(a.rule_id, 0) + 1
        return sorted(out.items())


@kpi
class RuleConversionsWindow(_Attributed):
    slug, unit, per = "rule.conversions_window", "count", "rule"
    name = {"fi": "Tilaukset 7 päivän sisällä", "en": "Orders within 7 days"}

    @classmethod
    def compute(
        cls, archive: Archive, workspace_id: int, start: datetime, end: datetime
    ) -> list[tuple[Any, Any]]:
        out: dict[int, int] = {}
        for a in cls.rows(archive, workspace_id, start, end):
            if a.rule_id is not None and a.outcome == "fired":
                out[a.rule_id] = out.get(a.rule_id, 0) + 1
        return sorted(out.items())


@kpi
class RuleRevenue(_Attributed):
    slug, unit, per = "rule.revenue", "money", "rule"
    name = {"fi": "Liikevaihto (viimeinen kosketus)", "en": "Revenue (last touch)"}

    @classmethod
    def compute(
        cls, archive: Archive, workspace_id: int, start: datetime, end: datetime
    ) -> list[tuple[Any, Any]]:
        out: dict[int, int] = {}
        for a in cls.rows(archive, workspace_id, start, end):
            if a.rule_id is not None and a.outcome == "fired":
                out[a.rule_id] = out.get(a.rule_id, 0) + a.revenue
        return sorted(out.items())


@kpi
class AgentBasket(_Attributed):
    slug, unit, per = "agent.basket", "money", "agent"
    name = {"fi": "Keskiostos (chatin tilaukset)", "en": "Basket size (orders after a chat)"}

    @classmethod
    def compute(
        cls, archive: Archive, workspace_id: int, start: datetime, end: datetime
    ) -> list[tuple[Any, Any]]:
        owners = dict(
            archive.query(
                "SELECT id, assignee_id FROM conversations WHERE workspace_id = $1", [workspace_id]
            )
        )
        sums: dict[int, list[int]] = {}
        for a in cls.rows(archive, workspace_id, start, end):
            agent = owners.get(a.conversation_id) if a.conversation_id else None
            if agent is not None:
                sums.setdefault(int(agent), []).append(a.revenue)
        return sorted((k, sum(v) / len(v)) for k, v in sums.items())


def describe() -> list[dict[str, Any]]:
    return [
        {"slug": k.slug, "name": k.name, "unit": k.unit, "per": k.per} for k in REGISTRY.values()
    ]

"""Per agent, the eight of PRODUCT.md §5, and the response times per team next to them.

Conversations count in the range they were opened in; an agent's are those assigned to them
(a forward moves the conversation to its new agent). Reply waits belong to the agent who
answered. Definitions: docs/analytics.md, "KPIs".
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kohtaamo.analytics import selling
from kohtaamo.analytics.archive import Archive
from kohtaamo.analytics.attribution import attribute
from kohtaamo.analytics.metrics import Ask, Kpi, kpi, quantile

_CONV = "FROM conversations WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3"

FIRST_RESPONSES = (
    "SELECT assignee_id, epoch(first_response_at) - epoch(created_at) "
    f"{_CONV} AND assignee_id IS NOT NULL AND first_response_at IS NOT NULL"
)
# A reply wait runs from the first visitor message not yet answered to the next agent message.
# `turn` numbers the agent messages before each message, so a visitor message waits for the
# agent message of the same turn.
REPLY_WAITS = """
WITH m AS (
  SELECT m.id, m.conversation_id, m.author, m.author_id, m.created_at,
         coalesce(sum(CASE WHEN m.author = 'agent' THEN 1 ELSE 0 END) OVER (
           PARTITION BY m.conversation_id ORDER BY m.id
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS turn
  FROM messages m JOIN conversations c ON c.id = m.conversation_id
  WHERE c.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3
    AND NOT m.note AND m.author IN ('visitor', 'agent')
)
SELECT a.author_id, epoch(a.created_at) - epoch(min(v.created_at))
FROM m a JOIN m v ON v.conversation_id = a.conversation_id AND v.turn = a.turn
 AND v.author = 'visitor'
WHERE a.author = 'agent' AND a.author_id IS NOT NULL
GROUP BY a.id, a.author_id, a.created_at
"""


def _teams(archive: Archive, ws: int) -> dict[int, int | None]:
    return dict(archive.query("SELECT user_id, team_id FROM agents WHERE workspace_id = $1", [ws]))


def _by(rows: list[Any], key: Any) -> dict[Any, list[float]]:
    out: dict[Any, list[float]] = defaultdict(list)
    for who, seconds in rows:
        k = key(who)
        if k is not None:
            out[k].append(float(seconds))
    return out


def _timing(q: float, sql: str, *, per_team: bool) -> Any:
    """A `rows` giving the q-quantile of seconds per agent, or per team (and "all")."""

    def rows(cls: type[Kpi], ask: Ask) -> list[tuple[Any, Any]]:
        found = ask.sql(sql)
        if not per_team:
            return sorted((k, quantile(v, q)) for k, v in _by(found, int).items())
        teams = _teams(ask.archive, ask.workspace_id)
        groups = _by(found, lambda who: teams.get(int(who)))
        out: list[tuple[Any, Any]] = sorted((str(k), quantile(v, q)) for k, v in groups.items())
        if found:
            out.append(("all", quantile([float(s) for _, s in found], q)))
        return out

    return classmethod(rows)


@kpi
class AgentConversations(Kpi):
    slug, unit, per = "agent.conversations", "count", "agent"
    zero = True
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
    rows = _timing(0.5, FIRST_RESPONSES, per_team=False)


@kpi
class AgentFirstResponseP90(Kpi):
    slug, unit, per = "agent.first_response_p90", "seconds", "agent"
    name = {"fi": "Ensivastausaika (p90)", "en": "First response time (p90)"}
    rows = _timing(0.9, FIRST_RESPONSES, per_team=False)


@kpi
class AgentReplyWaitMedian(Kpi):
    slug, unit, per = "agent.reply_wait_median", "seconds", "agent"
    name = {"fi": "Vastauksen odotus (mediaani)", "en": "Reply wait (median)"}
    rows = _timing(0.5, REPLY_WAITS, per_team=False)


@kpi
class AgentReplyWaitP90(Kpi):
    slug, unit, per = "agent.reply_wait_p90", "seconds", "agent"
    name = {"fi": "Vastauksen odotus (p90)", "en": "Reply wait (p90)"}
    rows = _timing(0.9, REPLY_WAITS, per_team=False)


@kpi
class TeamFirstResponseMedian(Kpi):
    slug, unit, per = "team.first_response_median", "seconds", "team"
    name = {"fi": "Tiimin ensivastausaika (mediaani)", "en": "Team first response (median)"}
    rows = _timing(0.5, FIRST_RESPONSES, per_team=True)


@kpi
class TeamFirstResponseP90(Kpi):
    slug, unit, per = "team.first_response_p90", "seconds", "team"
    name = {"fi": "Tiimin ensivastausaika (p90)", "en": "Team first response (p90)"}
    rows = _timing(0.9, FIRST_RESPONSES, per_team=True)


@kpi
class TeamReplyWaitMedian(Kpi):
    slug, unit, per = "team.reply_wait_median", "seconds", "team"
    name = {"fi": "Tiimin vastauksen odotus (mediaani)", "en": "Team reply wait (median)"}
    rows = _timing(0.5, REPLY_WAITS, per_team=True)


@kpi
class TeamReplyWaitP90(Kpi):
    slug, unit, per = "team.reply_wait_p90", "seconds", "team"
    name = {"fi": "Tiimin vastauksen odotus (p90)", "en": "Team reply wait (p90)"}
    rows = _timing(0.9, REPLY_WAITS, per_team=True)


@kpi
class AgentDuration(Kpi):
    slug, unit, per = "agent.duration_median", "seconds", "agent"
    name = {"fi": "Keskustelun kesto (mediaani)", "en": "Conversation length (median)"}
    query = (
        "SELECT assignee_id, median(epoch(resolved_at) - epoch(created_at)) "
        f"{_CONV} AND assignee_id IS NOT NULL AND resolved_at IS NOT NULL GROUP BY 1 ORDER BY 1"
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

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        """The share of an agent's conversations that an order was attributed to (the
        customer's last chat within the window before the order, on any of their devices)."""
        won = {
            a.conversation_id
            for a in attribute(ask.archive, ask.workspace_id, window_days=ask.window_days)
            if a.conversation_id is not None
        }
        rows = ask.sql(f"SELECT assignee_id, id {_CONV} AND assignee_id IS NOT NULL")
        per: dict[int, list[float]] = defaultdict(list)
        for agent, conv in rows:
            per[int(agent)].append(1.0 if conv in won else 0.0)
        return sorted((k, sum(v) / len(v)) for k, v in per.items())


def _selling(ask: Ask, test: Any) -> list[tuple[Any, Any]]:
    """Of the conversations an agent wrote in, the share where one of their messages matched."""
    rows = ask.sql(
        "SELECT m.author_id, m.conversation_id, m.body FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id WHERE c.workspace_id = $1 AND c.created_at >= $2 "
        "AND c.created_at < $3 AND m.author = 'agent' AND NOT m.note AND m.author_id IS NOT NULL"
    )
    wrote: dict[int, set[int]] = defaultdict(set)
    hit: dict[int, set[int]] = defaultdict(set)
    for agent, conv, body in rows:
        wrote[int(agent)].add(int(conv))
        if test(body or ""):
            hit[int(agent)].add(int(conv))
    return sorted((k, len(hit[k]) / len(v)) for k, v in wrote.items())


@kpi
class AgentAsksForSale(Kpi):
    slug, unit, per = "agent.asks_for_sale_share", "share", "agent"
    name = {"fi": "Pyytää kauppaa", "en": "Asks for the sale"}

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        return _selling(ask, selling.asks_for_sale)


@kpi
class AgentUpsell(Kpi):
    slug, unit, per = "agent.upsell_share", "share", "agent"
    name = {"fi": "Ehdottaa lisämyyntiä", "en": "Proposes an upsell"}

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        return _selling(ask, selling.proposes_upsell)


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


@kpi
class AgentBasket(Kpi):
    slug, unit, per = "agent.basket", "money", "agent"
    name = {"fi": "Keskiostos (chatin tilaukset)", "en": "Basket size (orders after a chat)"}

    @classmethod
    def rows(cls, ask: Ask) -> list[tuple[Any, Any]]:
        """The mean value (less refunds) of orders placed in the range and attributed to a
        conversation the agent has."""
        owners = dict(
            ask.archive.query(
                "SELECT id, assignee_id FROM conversations WHERE workspace_id = $1",
                [ask.workspace_id],
            )
        )
        lo, hi = ask.start.timestamp() * 1000, ask.end.timestamp() * 1000
        sums: dict[int, list[int]] = defaultdict(list)
        for a in attribute(ask.archive, ask.workspace_id, window_days=ask.window_days):
            agent = owners.get(a.conversation_id) if a.conversation_id else None
            if agent is not None and lo <= a.placed_ms < hi:
                sums[int(agent)].append(a.revenue)
        return sorted((k, sum(v) / len(v)) for k, v in sums.items())

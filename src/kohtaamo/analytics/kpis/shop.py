"""Per shop: the people who chatted against those who did not. A person is the customer, else
the device, as on every report (analytics/people.py); the people counted are those who viewed a
page in the range."""

from __future__ import annotations

from kohtaamo.analytics.metrics import Kpi, kpi
from kohtaamo.analytics.people import PEOPLE, person

_GROUPS = (
    "WITH "  # noqa: S608 - fixed text; values are bound parameters
    + PEOPLE.replace("$ws", "$1")
    + """,
seen AS (
  SELECT DISTINCT """
    + person("e.visitor_key")
    + """ AS who FROM events e
  LEFT JOIN device_person dp ON dp.visitor_key = e.visitor_key
  WHERE e.workspace_id = $1 AND e.ts >= $2 AND e.ts < $3 AND e.type = 'page_view'),
chat AS (
  SELECT DISTINCT """
    + person("c.visitor_key")
    + """ AS who FROM conversations c
  LEFT JOIN device_person dp ON dp.visitor_key = c.visitor_key
  WHERE c.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3),
buy AS (
  SELECT o.person AS who, count(*) AS orders, sum(o.revenue) AS revenue
  FROM ord o WHERE o.person IS NOT NULL AND o.placed_at >= $2 AND o.placed_at < $3 GROUP BY 1),
grouped AS (
  SELECT CASE WHEN chat.who IS NULL THEN 'others' ELSE 'chatters' END AS grp,
         buy.orders, buy.revenue
  FROM seen LEFT JOIN chat USING (who) LEFT JOIN buy USING (who))
"""
)


@kpi
class ShopChatterConversion(Kpi):
    slug, unit, per = "shop.conversion_chatters_vs_not", "share", "shop"
    name = {"fi": "Konversio: chattailijat vs. muut", "en": "Conversion: chatters vs others"}
    query = _GROUPS + (  # noqa: S608 - fixed text
        "SELECT grp, avg(CASE WHEN orders IS NULL THEN 0.0 ELSE 1.0 END) FROM grouped "
        "GROUP BY 1 ORDER BY 1"
    )


@kpi
class ShopChatterAov(Kpi):
    slug, unit, per = "shop.aov_chatters_vs_not", "money", "shop"
    name = {"fi": "Keskiostos: chattailijat vs. muut", "en": "Average order: chatters vs others"}
    query = _GROUPS + (  # noqa: S608 - fixed text
        "SELECT grp, sum(revenue) / sum(orders) FROM grouped WHERE orders IS NOT NULL "
        "GROUP BY 1 ORDER BY 1"
    )


@kpi
class ShopVisitors(Kpi):
    slug, unit, per = "shop.visitors", "count", "shop"
    name = {"fi": "Kävijät", "en": "Visitors"}
    query = _GROUPS + "SELECT 'shop', count(*) FROM grouped"  # noqa: S608 - fixed text


@kpi
class ShopConversion(Kpi):
    slug, unit, per = "shop.conversion", "share", "shop"
    name = {"fi": "Konversio", "en": "Conversion"}
    query = _GROUPS + (  # noqa: S608 - fixed text
        "SELECT 'shop', avg(CASE WHEN orders IS NULL THEN 0.0 ELSE 1.0 END) FROM grouped "
        "HAVING count(*) > 0"
    )


@kpi
class ShopOrders(Kpi):
    slug, unit, per = "shop.orders", "count", "shop"
    name = {"fi": "Tilaukset", "en": "Orders"}
    query = (
        "SELECT 'shop', count(*) FROM orders WHERE workspace_id = $1 AND placed_at >= $2 "
        "AND placed_at < $3 AND status <> 'cancelled'"
    )


@kpi
class ShopRevenue(Kpi):
    slug, unit, per = "shop.revenue", "money", "shop"
    name = {"fi": "Liikevaihto", "en": "Revenue"}
    # Refunds come off; cancelled orders are not orders.
    query = (
        "SELECT 'shop', coalesce(sum(total - refunded), 0) FROM orders WHERE workspace_id = $1 "
        "AND placed_at >= $2 AND placed_at < $3 AND status <> 'cancelled'"
    )


@kpi
class ShopConversations(Kpi):
    slug, unit, per = "shop.conversations", "count", "shop"
    name = {"fi": "Keskustelut", "en": "Conversations"}
    query = (
        "SELECT 'shop', count(*) FROM conversations WHERE workspace_id = $1 "
        "AND created_at >= $2 AND created_at < $3"
    )


@kpi
class ShopCsat(Kpi):
    slug, unit, per = "shop.csat", "share", "shop"
    name = {"fi": "Tyytyväisyys (peukut)", "en": "CSAT (thumbs)"}
    query = (
        "SELECT 'shop', avg(CASE WHEN rating = 'up' THEN 1.0 ELSE 0.0 END) FROM conversations "
        "WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND rating IS NOT NULL "
        "HAVING count(*) > 0"
    )

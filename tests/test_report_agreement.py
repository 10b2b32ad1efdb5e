"""The funnel, the windows and the KPI lists agree with each other (issue 12, item 7): the
purchase stage is the people who ordered (any source, cancellations out) as the shop's KPIs
count them; attribution and the experiment share one window edge; the sequential test looks
every day; and a KPI lists every rule and agent in scope, zeros included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from kohtaamo.kit.clock import utcnow
from tests import factory as f
from tests import figkit as fk
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio


def _reports(shop: f.Shop, path: str) -> str:
    return f"/api/v1/workspaces/{shop.id}/reports{path}"


async def _ok(client: httpx.AsyncClient, url: str, shop: f.Shop, **params: Any) -> Any:
    r = await client.get(url, params=params, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _order(client: httpx.AsyncClient, shop: f.Shop, order_id: str, **fields: Any) -> None:
    body = {"order_id": order_id, "total": 5000, "currency": "EUR", **fields}
    headers = {"Authorization": f"Bearer {shop.api_key}"}
    r = await client.post("/api/v1/orders", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text


async def test_the_purchase_stage_is_the_people_who_ordered_from_any_source(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    """By hand: s1's order came only from the server; s2's widget purchase was cancelled; s3
    ordered as customer c-3 (no visitor id) after identifying; s4 viewed a page and the server
    reported an order (no cart event: an order is past the checkout). People who ordered:
    s1, s3, s4."""
    clock = rk.use_clock(app)
    clock.t = fk.noon(2).timestamp()
    shop = await f.shop(app, client)

    def v(name: str) -> rk.Visitor:
        return rk.Visitor(client, shop, clock, visitor=name, visit=f"{name}-1")

    for name in ("s1", "s2", "s3", "s4", "s5"):
        await v(name).page("/tuote/1", "product")
        clock.advance(10)
    for name in ("s1", "s2", "s3", "s5"):
        await v(name).send("cart_add", {"product_id": "p-1", "unit_price": 5000})
        clock.advance(10)
    await v("s3").send("identify", {"customer_id": "c-3"})
    await v("s2").send("purchase", {"order_id": "o-2", "value": 5000, "currency": "EUR"})
    clock.advance(10)
    at = datetime.fromtimestamp(clock.t, UTC).isoformat()
    await _order(client, shop, "o-1", visitor_id="s1", created_at=at)
    await _order(client, shop, "o-3", customer_id="c-3", created_at=at)
    await _order(client, shop, "o-4", visitor_id="s4", created_at=at)
    r = await client.post(
        "/api/v1/orders/o-2/cancel", headers={"Authorization": f"Bearer {shop.api_key}"}
    )
    assert r.status_code == 200, r.text
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    span = {
        "start": (fk.noon(2) - timedelta(hours=1)).isoformat(),
        "end": (utcnow() + timedelta(hours=1)).isoformat(),
    }
    funnel = await _ok(client, _reports(shop, "/funnel"), shop, **span)
    stages = {s["stage"]: s["people"] for s in funnel["stages"]}
    assert (stages["awareness"], stages["consideration"], stages["purchase"]) == (5, 5, 3)
    # The shop's KPIs count the same people: visitors x the share who ordered.
    visitors = (await _ok(client, _reports(shop, "/kpis/shop.visitors"), shop, **span))["values"]
    conversion = await _ok(client, _reports(shop, "/kpis/shop.conversion"), shop, **span)
    assert visitors[0]["value"] == 5
    assert round(visitors[0]["value"] * conversion["values"][0]["value"]) == stages["purchase"]
    orders = await _ok(client, _reports(shop, "/kpis/shop.orders"), shop, **span)
    assert orders["values"][0]["value"] == 3  # o-1, o-3, o-4; o-2 was cancelled


async def test_attribution_and_the_experiment_share_the_window_edge(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    """An order exactly `window` after the exposure is outside the window for both; one a
    second earlier is inside for both (docs/analytics.md: e <= t < e + window)."""
    clock = rk.use_clock(app)
    clock.t = fk.noon(9).timestamp()
    shop = await f.shop(app, client)
    rule = await rk.create(
        client, shop, name="Kori", condition={"==": [{"var": "page.type"}, "cart"]}
    )
    for name in ("edge", "inside"):
        answer = await rk.Visitor(client, shop, clock, visitor=name, visit="a").page("/k", "cart")
        assert rk.fired(answer) == [rule["id"]]
        clock.advance(60)
    at = {
        x["visitor_id"]: datetime.fromisoformat(x["at"])
        for x in await rk.exposures(client, shop, rule["id"])
    }
    await _order(
        client,
        shop,
        "o-edge",
        visitor_id="edge",
        created_at=(at["edge"] + timedelta(days=7)).isoformat(),
    )
    await _order(
        client,
        shop,
        "o-in",
        visitor_id="inside",
        created_at=(at["inside"] + timedelta(days=7, seconds=-1)).isoformat(),
    )
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    rows = await _ok(client, _reports(shop, "/attribution"), shop, window_days=7)
    credited = {x["order_id"]: x["rule_id"] for x in rows}
    assert credited == {"o-edge": None, "o-in": rule["id"]}
    (exp,) = await _ok(client, _reports(shop, "/rules"), shop, window_days=7)
    assert (exp["exposed"]["visitors"], exp["exposed"]["converted"]) == (2, 1)
    assert exp["exposed"]["revenue"] == 5000


async def test_the_sequential_test_looks_every_day_since_the_first_exposure(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    clock = rk.use_clock(app)
    clock.t = fk.noon(4).timestamp()
    shop = await f.shop(app, client)
    rule = await rk.create(
        client,
        shop,
        name="Kori",
        condition={"==": [{"var": "page.type"}, "cart"]},
        holdout_share=0.5,
    )
    for i in range(6):
        await rk.Visitor(client, shop, clock, visitor=f"v{i}", visit="a").page("/k", "cart")
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    (exp,) = await _ok(client, _reports(shop, "/rules"), shop)
    first = fk.noon(4).date()
    assert exp["rule_id"] == rule["id"]
    assert exp["looks"] == (utcnow().date() - first).days + 1  # D-4 … today, nothing new since


async def test_kpi_lists_have_a_row_for_every_rule_and_agent_even_at_zero(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    h = await fk.history(app, client)
    aino = await f.user(app, client, "aino@kauppa.fi", workspace_id=h.shop.id)
    r = await client.patch(
        f"/api/v1/workspaces/{h.shop.id}/agents/{aino.user_id}",
        json={"status": "away"},
        headers=h.shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    span = {
        "start": (h.day0 - timedelta(days=1)).isoformat(),
        "end": (utcnow() + timedelta(hours=1)).isoformat(),
    }
    kori, tuote = str(h.kori.rule_id), str(h.tuote.rule_id)

    async def values(slug: str) -> dict[str, Any]:
        got = await _ok(client, _reports(h.shop, f"/kpis/{slug}"), h.shop, **span)
        return {x["key"]: x["value"] for x in got["values"]}

    assert await values("rule.visitor_replied") == {kori: 1, tuote: 0}  # Tuote opened none
    # The server's orders came with visitor ids whose last visit was the exposure's.
    assert await values("rule.conversions_same_visit") == {kori: 2, tuote: 1}
    assert await values("rule.conversions_window") == {kori: 2, tuote: 1}
    assert await values("rule.chats_opened") == {kori: len(h.kori.fired), tuote: len(h.tuote.fired)}
    convs = await values("agent.conversations")
    assert convs[str(aino.user_id)] == 0  # an agent with no conversations has a row
    # Out of the range every rule is still listed, at zero.
    later = {
        "start": (utcnow() + timedelta(hours=2)).isoformat(),
        "end": (utcnow() + timedelta(hours=3)).isoformat(),
    }
    got = await _ok(client, _reports(h.shop, "/kpis/rule.fired"), h.shop, **later)
    assert {x["key"]: x["value"] for x in got["values"]} == {kori: 0, tuote: 0}
    got = await _ok(client, _reports(h.shop, "/kpis/rule.revenue"), h.shop, **later)
    assert {x["key"]: x["value"] for x in got["values"]} == {kori: 0, tuote: 0}

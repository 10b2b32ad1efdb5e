"""One person, one definition, on every report (issue 12, ADR 0013): a device belongs to the
customer it was last linked to (identify, an order carrying both, an exposure made while
identified); an exposure made while identified and an order carrying a customer id belong to
that customer. A shared computer linked to two customers is the later one's device, and the
funnel, the shop's KPIs, the daily series and the rules report all say so."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from tests import chatkit as ck
from tests import factory as f
from tests import figkit as fk
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio


async def test_a_shared_device_is_one_person_on_every_report(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    clock = rk.use_clock(app)
    day0 = fk.noon(3)
    clock.t = day0.timestamp()
    shop = await f.shop(app, client)
    rule = await rk.create(
        client, shop, name="Kori", condition={"==": [{"var": "page.type"}, "cart"]}
    )
    key = {"Authorization": f"Bearer {shop.api_key}"}

    def visit(device: str, visit_id: str) -> rk.Visitor:
        return rk.Visitor(client, shop, clock, visitor=device, visit=visit_id)

    async def order(order_id: str, **who: str) -> None:
        body = {"order_id": order_id, "total": 1000, "currency": "EUR", **who}
        r = await client.post(
            "/api/v1/orders", json=body | {"created_at": f.at_iso(clock.t)}, headers=key
        )
        assert r.status_code == 201, r.text
        clock.advance(60)

    # The shared computer meets the rule anonymously (its device's person: the latest customer,
    # B), then A logs in on it, meets the rule as A and orders; later B logs in and orders.
    await visit("shared", "s-1").page("/kori", "cart")
    clock.advance(60)
    shared_a = visit("shared", "s-2")
    await shared_a.send("identify", {"customer_id": "A"})
    clock.advance(1)
    await shared_a.page("/kori", "cart")
    clock.advance(60)
    await order("o-a", customer_id="A", visitor_id="shared")
    shared_b = visit("shared", "s-3")
    await shared_b.send("identify", {"customer_id": "B"})
    clock.advance(1)
    await shared_b.page("/tuote/1", "product")
    clock.advance(60)
    await order("o-b", customer_id="B", visitor_id="shared")
    # A's own laptop, an anonymous buyer, a customer who only looks.
    laptop = visit("a-laptop", "l-1")
    await laptop.send("identify", {"customer_id": "A"})
    clock.advance(1)
    await laptop.page("/", "landing")
    clock.advance(60)
    await visit("anon-1", "n-1").page("/", "landing")
    clock.advance(60)
    await order("o-n", visitor_id="anon-1")
    c_phone = visit("c-phone", "c-1")
    await c_phone.send("identify", {"customer_id": "C"})
    clock.advance(1)
    await c_phone.page("/", "landing")
    clock.advance(60)

    await fill.fill(app.state.sessionmaker, archive, settle=0)

    # By the definition: the shared computer is B's; A is A's laptop plus the exposure and the
    # order A made on the shared computer. Persons who viewed a page: A, B, anon-1, C; who
    # ordered: A, B, anon-1. The rule reached B (the anonymous exposure) and A (identified).
    span = {"start": f.at_iso(day0.timestamp() - 3600), "end": f.at_iso(clock.t + 3600)}
    base = f"/api/v1/workspaces/{shop.id}/reports"

    async def kpi(slug: str) -> Any:
        r = await client.get(f"{base}/kpis/{slug}", params=span, headers=shop.owner.headers)
        assert r.status_code == 200, r.text
        (row,) = r.json()["values"]
        return row["value"]

    r = await client.get(f"{base}/funnel", params=span, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    stages = {s["stage"]: s["people"] for s in r.json()["stages"]}
    # "Kävijät / Visitors": people who viewed a page (a customer's devices are one person).
    assert await kpi("shop.visitors") == stages["awareness"] == 4
    # "Konversio / Conversion": the people who ordered are the funnel's purchase stage.
    assert await kpi("shop.conversion") == pytest.approx(stages["purchase"] / 4)
    assert stages["purchase"] == 3
    # The overview's days: "a day's visitors are the people who viewed a page that day" (the
    # whole history is within one day, so that day's figure is the range's).
    client.cookies.set("kohtaamo_session", await ck.cookie(app, shop.owner.user_id))
    r = await client.get(f"/workspaces/{shop.id}/overview?last=7&format=csv")
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert "visitors" in rows[0][1] or "Kävijät" in rows[0][1], rows[0]
    assert sorted(float(row[1]) for row in rows[1:] if float(row[1]))[-1:] == [4.0], rows
    # The rules report: persons A and B, each converted by their own order.
    r = await client.get(f"{base}/rules", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    (report,) = r.json()
    assert report["rule_id"] == rule["id"]
    ex = report["exposed"]
    assert (ex["visitors"], ex["converted"], ex["orders"], ex["revenue"]) == (2, 2, 2, 2000)
    # Chatters vs others: nobody chatted, so every visitor is among the others.
    r = await client.get(
        f"{base}/kpis/shop.conversion_chatters_vs_not", params=span, headers=shop.owner.headers
    )
    assert r.json()["values"] == [{"key": "others", "value": pytest.approx(3 / 4)}]

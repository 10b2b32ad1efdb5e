"""Orders from the shop's server: idempotent by order id, refunds and cancellations, and the
customer facts the rules read."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.commerce import service as commerce
from kohtaamo.commerce.schemas import OrderCreate
from kohtaamo.contacts.service import get_facts
from kohtaamo.db.engine import transaction
from tests import factory as f

pytestmark = pytest.mark.asyncio


def order(order_id: str = "1001", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": "asiakas-7",
        "visitor_id": "vis-7",
        "email": "  Liisa@Example.FI ",
        "lines": [
            {"product_id": "x100vi", "category": "kamerat", "quantity": 1, "unit_price": 129900},
            {"product_id": "sd-128", "category": "muistikortit", "quantity": 2, "unit_price": 2990},
        ],
        "total": 135880,
        "currency": "EUR",
        "created_at": "2026-11-20T10:15:00+02:00",
    }
    body.update(extra)
    return body


def server(shop: f.Shop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.api_key}"}


async def facts(app: FastAPI, shop: f.Shop, customer: str = "asiakas-7") -> tuple[int, int]:
    async with transaction(app.state.sessionmaker) as s:
        got = await get_facts(s, workspace_id=shop.id, customer_id=customer)
    return (got.orders, got.lifetime_value) if got else (0, 0)


async def test_an_order_is_recorded_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    r = await client.post("/api/v1/orders", json=order(), headers=server(shop))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["total"] == 135880
    assert got["status"] == "placed"
    assert got["confirmed"] is True
    assert got["placed_at"].startswith("2026-11-20T08:15:00")  # stored in UTC
    assert got["email_hash"] == hashlib.sha256(b"liisa@example.fi").hexdigest()
    assert [x["product_id"] for x in got["lines"]] == ["x100vi", "sd-128"]
    again = await client.post("/api/v1/orders", json=order(), headers=server(shop))
    assert again.status_code == 200
    assert again.json() == got
    assert await facts(app, shop) == (1, 135880)
    other = await client.post("/api/v1/orders", json=order(total=1), headers=server(shop))
    assert other.status_code == 409
    assert other.json()["detail"]["field"] == "order_id"
    listed = await client.get(f"/api/v1/workspaces/{shop.id}/orders", headers=shop.owner.headers)
    assert [o["order_id"] for o in listed.json()] == ["1001"]


async def test_refunds_and_cancellation_move_the_customer_facts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    await client.post("/api/v1/orders", json=order(), headers=server(shop))
    await client.post("/api/v1/orders", json=order("1002", total=10000), headers=server(shop))
    assert await facts(app, shop) == (2, 145880)
    r = await client.post(
        "/api/v1/orders/1001/refunds",
        json={"refund_id": "r-1", "amount": 5980},
        headers=server(shop),
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "partially_refunded"
    assert r.json()["refunded"] == 5980
    same = await client.post(
        "/api/v1/orders/1001/refunds",
        json={"refund_id": "r-1", "amount": 5980},
        headers=server(shop),
    )
    assert same.json()["refunded"] == 5980  # once per refund id
    too_much = await client.post(
        "/api/v1/orders/1001/refunds",
        json={"refund_id": "r-2", "amount": 200000},
        headers=server(shop),
    )
    assert too_much.status_code == 422
    assert too_much.json()["detail"]["field"] == "amount"
    assert await facts(app, shop) == (2, 139900)
    r = await client.post("/api/v1/orders/1002/cancel", headers=server(shop))
    assert r.json()["status"] == "cancelled"
    r = await client.post("/api/v1/orders/1002/cancel", headers=server(shop))
    assert r.status_code == 200
    assert await facts(app, shop) == (1, 129900)
    missing = await client.post("/api/v1/orders/nope/cancel", headers=server(shop))
    assert missing.status_code == 404


async def test_the_widget_purchase_and_the_server_order_are_one_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    seen = OrderCreate.model_validate(
        {
            "order_id": "1003",
            "customer_id": "asiakas-7",
            "visitor_id": "vis-7",
            "total": 9900,
            "currency": "EUR",
        }
    )
    async with transaction(app.state.sessionmaker) as s:
        _, created = await commerce.record_order(
            s, workspace_id=shop.id, data=seen, source="widget", confirmed=False
        )
    assert created
    assert await facts(app, shop) == (1, 9900)
    # The server's report has the real total (shipping added) and the lines.
    r = await client.post(
        "/api/v1/orders",
        json=order("1003", total=10890, lines=[{"product_id": "kirja", "unit_price": 9900}]),
        headers=server(shop),
    )
    assert r.status_code == 200, r.text
    assert r.json()["confirmed"] is True
    assert r.json()["source"] == "api"
    assert r.json()["total"] == 10890
    assert await facts(app, shop) == (1, 10890)  # still one order


async def test_orders_need_the_secret_key_and_valid_fields(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    r = await client.post("/api/v1/orders", json=order())
    assert r.status_code == 401
    assert r.json()["detail"]["field"] == "authorization"
    r = await client.post(
        "/api/v1/orders", json=order(), headers={"Authorization": "Bearer ksk_wrong"}
    )
    assert r.status_code == 401
    for bad, field in (
        (order(total=-1), "total"),
        (order(currency="eur"), "currency"),
        (order(created_at="2026-11-20T10:15:00"), "created_at"),
        (order(lines=[{"product_id": "x", "unit_price": 1.5}]), "lines[0].unit_price"),
        (order(email_hash="abc"), "email_hash"),
    ):
        r = await client.post("/api/v1/orders", json=bad, headers=server(shop))
        assert r.status_code == 422, (field, r.text)
        assert r.json()["detail"]["field"].endswith(field), (field, r.json())
    other = await f.shop(app, client, "Toinen")
    await client.post("/api/v1/orders", json=order(), headers=server(shop))
    r = await client.get("/api/v1/orders/1001", headers=server(other))
    assert r.status_code == 404  # another shop's key sees nothing


async def test_a_purchase_event_through_track_is_an_order_that_the_server_confirms(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    buy = f.event("purchase", {"order_id": "W-1", "value": 4990, "currency": "EUR"})
    ident = f.event("identify", {"customer_id": "asiakas-7"})
    r = await f.track(client, f.batch(shop, [ident, buy], visitor="vis-9", visit="s-1"))
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/workspaces/{shop.id}/orders", headers=shop.owner.headers)
    (seen,) = r.json()
    assert (seen["order_id"], seen["source"], seen["confirmed"]) == ("W-1", "widget", False)
    assert (seen["visitor_id"], seen["customer_id"], seen["total"]) == ("vis-9", "asiakas-7", 4990)
    assert await facts(app, shop) == (1, 4990)
    # The same event again (a retried batch) and the server's report: still one order.
    r = await f.track(client, f.batch(shop, [buy], visitor="vis-9", visit="s-1"))
    assert r.json()["duplicates"] == 1
    r = await client.post("/api/v1/orders", json=order("W-1", total=5880), headers=server(shop))
    assert r.status_code == 200, r.text
    assert (r.json()["confirmed"], r.json()["total"]) == (True, 5880)
    # A server order first, and the widget's view of it later (another amount): the server wins.
    r = await client.post("/api/v1/orders", json=order("S-2", total=1000), headers=server(shop))
    assert r.status_code == 201
    late = f.event("purchase", {"order_id": "S-2", "value": 900, "currency": "EUR"})
    r = await f.track(client, f.batch(shop, [late], visitor="vis-9", visit="s-2"))
    assert r.status_code == 200
    r = await client.get(f"/api/v1/workspaces/{shop.id}/orders", headers=shop.owner.headers)
    totals = {o["order_id"]: (o["total"], o["confirmed"]) for o in r.json()}
    assert totals == {"W-1": (5880, True), "S-2": (1000, True)}
    assert await facts(app, shop) == (2, 6880)

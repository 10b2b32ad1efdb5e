"""Shopify and WooCommerce order webhooks, signed as those platforms sign them (base64 of an
HMAC-SHA256 of the raw body with the webhook secret), mapped to the same orders as the API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests import factory as f

pytestmark = pytest.mark.asyncio
SECRET = "shpss_0123456789abcdef0123456789"

# The fields of a real `orders/create` payload that matter here (Shopify Admin API, REST).
SHOPIFY_ORDER: dict[str, Any] = {
    "id": 820982911946154508,
    "name": "#9999",
    "email": "Jon@Example.com",
    "created_at": "2026-11-20T10:15:00-05:00",
    "currency": "EUR",
    "total_price": "1358.80",
    "subtotal_price": "1358.80",
    "customer": {"id": 115310627314723954, "email": "jon@example.com"},
    "note_attributes": [{"name": "kohtaamo_visitor", "value": "vis-shopify-1"}],
    "line_items": [
        {"id": 866550311766439020, "product_id": 632910392, "quantity": 1, "price": "1299.00"},
        {"id": 141249953214522974, "product_id": 632910393, "quantity": 2, "price": "29.90"},
    ],
}
# And of a WooCommerce REST API v3 `order.created` payload.
WOO_ORDER: dict[str, Any] = {
    "id": 727,
    "status": "processing",
    "currency": "EUR",
    "date_created_gmt": "2026-11-20T15:15:00",
    "total": "99.90",
    "customer_id": 0,
    "billing": {"email": "liisa@example.fi"},
    "meta_data": [{"id": 1, "key": "kohtaamo_visitor", "value": "vis-woo-1"}],
    "line_items": [{"id": 315, "product_id": 93, "quantity": 2, "price": 49.95, "total": "99.90"}],
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def connect(client: httpx.AsyncClient, shop: f.Shop, platform: str) -> None:
    r = await client.put(
        f"/api/v1/workspaces/{shop.id}/integrations/{platform}",
        json={"secret": SECRET},
        headers=shop.owner.headers,
    )
    assert r.status_code == 204, r.text


async def post(
    client: httpx.AsyncClient, shop: f.Shop, platform: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"/api/v1/webhooks/{platform}/{shop.site_key}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


async def order_of(client: httpx.AsyncClient, shop: f.Shop, order_id: str) -> dict[str, Any]:
    r = await client.get(
        f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {shop.api_key}"}
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_shopify_order_created(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    await connect(client, shop, "shopify")
    body = json.dumps(SHOPIFY_ORDER).encode()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sign(body)}
    r = await post(client, shop, "shopify", body, headers)
    assert r.status_code == 201, r.text
    again = await post(client, shop, "shopify", body, headers)  # Shopify retries: one order
    assert again.status_code == 200
    got = await order_of(client, shop, "820982911946154508")
    assert got["total"] == 135880
    assert got["currency"] == "EUR"
    assert got["customer_id"] == "115310627314723954"
    assert got["visitor_id"] == "vis-shopify-1"
    assert got["email_hash"] == hashlib.sha256(b"jon@example.com").hexdigest()
    assert got["placed_at"].startswith("2026-11-20T15:15:00")
    assert [(x["product_id"], x["quantity"], x["unit_price"]) for x in got["lines"]] == [
        ("632910392", 1, 129900),
        ("632910393", 2, 2990),
    ]
    assert got["source"] == "shopify"


async def test_woocommerce_order_created_and_ping(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    await connect(client, shop, "woocommerce")
    ping = b"webhook_id=12"
    r = await post(client, shop, "woocommerce", ping, {"X-WC-Webhook-Signature": sign(ping)})
    assert r.status_code == 200
    body = json.dumps(WOO_ORDER).encode()
    headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": sign(body)}
    r = await post(client, shop, "woocommerce", body, headers)
    assert r.status_code == 201, r.text
    got = await order_of(client, shop, "727")
    assert got["total"] == 9990
    assert got["customer_id"] is None  # customer 0 is a guest
    assert got["visitor_id"] == "vis-woo-1"
    assert got["placed_at"].startswith("2026-11-20T15:15:00")
    assert got["lines"] == [
        {"product_id": "93", "category": None, "quantity": 2, "unit_price": 4995}
    ]


async def test_signatures_are_checked_on_the_raw_body(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    await connect(client, shop, "shopify")
    body = json.dumps(SHOPIFY_ORDER).encode()
    tampered = body.replace(b"1358.80", b"1.00")
    for sent, signed in ((tampered, body), (body, b"other")):
        r = await post(
            client,
            shop,
            "shopify",
            sent,
            {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sign(signed)},
        )
        assert r.status_code == 401
        assert r.json()["detail"]["field"] == "x-shopify-hmac-sha256"
    r = await post(
        client,
        shop,
        "shopify",
        body,
        {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sign(body, "x" * 20)},
    )
    assert r.status_code == 401
    # The same secret re-serialised (other spacing) is another body: refused too.
    spaced = json.dumps(SHOPIFY_ORDER, indent=2).encode()
    r = await post(
        client,
        shop,
        "shopify",
        spaced,
        {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sign(body)},
    )
    assert r.status_code == 401
    none = await client.get(f"/api/v1/workspaces/{shop.id}/orders", headers=shop.owner.headers)
    assert none.json() == []
    # Another platform's address of this shop is not connected.
    r = await post(client, shop, "woocommerce", body, {"X-WC-Webhook-Signature": sign(body)})
    assert r.status_code == 404


async def test_other_topics_and_unreadable_orders(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    await connect(client, shop, "shopify")
    body = json.dumps({"id": 1}).encode()
    r = await post(
        client,
        shop,
        "shopify",
        body,
        {"X-Shopify-Topic": "products/update", "X-Shopify-Hmac-Sha256": sign(body)},
    )
    assert r.status_code == 202
    bad = json.dumps({**SHOPIFY_ORDER, "total_price": "lots"}).encode()
    r = await post(
        client,
        shop,
        "shopify",
        bad,
        {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sign(bad)},
    )
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "body"


async def test_api_and_webhook_reports_are_one_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    await connect(client, shop, "woocommerce")
    r = await client.post(
        "/api/v1/orders",
        json={"order_id": "727", "total": 9990, "currency": "EUR", "customer_id": "c-1"},
        headers={"Authorization": f"Bearer {shop.api_key}"},
    )
    assert r.status_code == 201
    body = json.dumps(WOO_ORDER).encode()
    r = await post(
        client,
        shop,
        "woocommerce",
        body,
        {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": sign(body)},
    )
    assert r.status_code == 200
    listed = await client.get(f"/api/v1/workspaces/{shop.id}/orders", headers=shop.owner.headers)
    assert [o["order_id"] for o in listed.json()] == ["727"]

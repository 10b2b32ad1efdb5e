"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from kohtaamo.app import create_app
from tests import factory, services
from tests.conftest import make_settings

TRACK = "/api/v1/track"


async def _metrics(client: httpx.AsyncClient) -> str:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def _value(text: str, sample: str, **labels: str) -> float:
    """The sample's value (0 if the series does not exist yet)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def _route_labels(text: str) -> set[str]:
    return {
        s.labels["route"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kohtaamo_http_requests_total"
    }


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"status": "ready"}


@pytest.fixture
async def redis_app(database_url: str) -> AsyncIterator[FastAPI]:
    services.require_redis()
    application = create_app(make_settings(database_url, redis_url=services.REDIS_URL))
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.redis
async def test_readyz_with_redis(redis_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=redis_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready"}


async def test_requests_are_counted_by_route_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await factory.shop(app, client)
    before = await _metrics(client)
    ok = {"method": "POST", "route": TRACK, "status": "200"}
    ws_route = {"method": "GET", "route": "/api/v1/workspaces/{workspace_id}", "status": "200"}
    r = await factory.track(client, factory.batch(shop, [factory.page("https://shop.example/")]))
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)
    assert r.status_code == 200
    r = await client.get(f"/no/such/page/{shop.id}")
    assert r.status_code == 404
    after = await _metrics(client)
    assert _value(after, "kohtaamo_http_requests_total", **ok) == (
        _value(before, "kohtaamo_http_requests_total", **ok) + 1
    )
    assert _value(after, "kohtaamo_http_requests_total", **ws_route) == (
        _value(before, "kohtaamo_http_requests_total", **ws_route) + 1
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _value(after, "kohtaamo_http_requests_total", **unmatched) >= 1
    routes = _route_labels(after)
    assert TRACK in routes
    assert not [r for r in routes if re.search(r"/\d+(/|$)", r)], routes  # no raw ids
    assert _value(after, "kohtaamo_http_request_seconds_count", route=TRACK) >= 1


async def test_event_counters_move_by_exactly_the_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await factory.shop(app, client)
    before = await _metrics(client)
    events = [
        factory.page("https://shop.example/"),
        factory.page("https://shop.example/p/1", "product", product_id="p-1"),
        factory.event("cart_add", {"product_id": "p-1", "unit_price": 1990}),
    ]
    body = factory.batch(shop, events)
    r = await factory.track(client, body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    r = await factory.track(client, body)  # the same ids again: stored once
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"]) == (0, 3)
    bad = factory.batch(
        shop, [factory.page("https://shop.example/x"), factory.page("ftp://x")], visit="visit-2"
    )
    r = await factory.track(client, bad)
    assert r.status_code == 422, r.text  # stored whole or not at all
    after = await _metrics(client)

    def delta(outcome: str) -> float:
        key = "kohtaamo_events_total"
        return _value(after, key, outcome=outcome) - _value(before, key, outcome=outcome)

    assert delta("accepted") == 3
    assert delta("duplicate") == 3
    assert delta("rejected") == 2


async def test_metrics_answer_even_before_any_traffic(client: httpx.AsyncClient) -> None:
    text = await _metrics(client)
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"kohtaamo_http_requests", "kohtaamo_events", "kohtaamo_http_request_seconds"} <= names

"""POST /api/v1/track: idempotency, validation that names index and field, limits, visits."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.kit import jsonx
from tests import factory as f
from tests.conftest import make_settings


async def _events_of(client: httpx.AsyncClient, shop: f.Shop, visitor: str = "vis-1") -> list[dict]:
    r = await client.get(
        f"/api/v1/workspaces/{shop.id}/visitors/{visitor}/events?limit=1000",
        headers=shop.owner.headers,
    )
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return r.json()


async def test_same_event_id_in_two_batches_is_stored_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    a, b, c = (f.page("https://shop.example/", "landing") for _ in range(3))
    r1 = await f.track(client, f.batch(shop, [a, b]))
    assert r1.status_code == 200, r1.text
    assert r1.json()["accepted"] == 2
    assert r1.json()["duplicates"] == 0
    r2 = await f.track(client, f.batch(shop, [b, c, a]))
    assert r2.status_code == 200, r2.text
    assert (r2.json()["accepted"], r2.json()["duplicates"]) == (1, 2)
    stored = await _events_of(client, shop)
    assert sorted(e["id"] for e in stored) == sorted([a["id"], b["id"], c["id"]])


async def test_duplicate_id_inside_one_batch_counts_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    ev = f.page("https://shop.example/", "landing")
    r = await f.track(client, f.batch(shop, [ev, dict(ev)]))
    assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 1)


async def test_concurrent_resends_are_stored_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Many requests in flight at once share commits (group commit); overlapping ids still count once."""
    shop = await f.shop(app, client)
    events = [f.event("custom:tick", {"n": i}) for i in range(40)]
    bodies = [f.batch(shop, events[i : i + 10]) for i in range(0, 40, 5)]  # every id sent twice
    answers = await asyncio.gather(*(f.track(client, b) for b in bodies))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert sum(r.json()["accepted"] for r in answers) == 40
    assert (
        sum(r.json()["duplicates"] for r in answers) == sum(len(b["events"]) for b in bodies) - 40
    )
    assert len(await _events_of(client, shop)) == 40


async def test_malformed_event_names_index_and_field_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    good = f.page("https://shop.example/cart", "cart")
    bad = f.event("cart_add", {"product_id": "p1", "unit_price": -5})
    r = await f.track(client, f.batch(shop, [good, bad]))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["index"] == 1
    assert detail["field"] == "events[1].props.unit_price"
    assert detail["errors"][0]["field"] == "events[1].props.unit_price"
    assert "nothing in this batch was stored" in detail["message"]
    assert await _events_of(client, shop) == []
    # The client drops the bad event and re-sends the rest under the same ids: stored once.
    r = await f.track(client, f.batch(shop, [good]))
    assert r.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            {
                "id": "not-a-uuid",
                "type": "page_view",
                "ts": 1_700_000_000_000,
                "props": {"url": "https://a.example/"},
            },
            "events[0].id",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "page_view",
                "ts": 1_700_000_000_000,
                "props": {"url": "/relative"},
            },
            "events[0].props.url",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "page_view",
                "ts": 1_700_000_000_000,
                "props": {"url": "https://a.example/", "page_type": "blog"},
            },
            "events[0].props.page_type",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "form_error",
                "ts": 1_700_000_000_000,
                "props": {"form": "login"},
            },
            "events[0].props.field",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "server_error",
                "ts": 1_700_000_000_000,
                "props": {"status": 404},
            },
            "events[0].props.status",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "purchase",
                "ts": 1_700_000_000_000,
                "props": {"order_id": "1", "value": 100, "currency": "euro"},
            },
            "events[0].props.currency",
        ),
        (
            {"id": str(uuid.uuid4()), "type": "identify", "ts": 1_700_000_000_000, "props": {}},
            "events[0].props.customer_id",
        ),
        (
            {"id": str(uuid.uuid4()), "type": "teleport", "ts": 1_700_000_000_000, "props": {}},
            "events[0].type",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "custom:Bad Name",
                "ts": 1_700_000_000_000,
                "props": {},
            },
            "events[0].type",
        ),
        (
            {"id": str(uuid.uuid4()), "type": "login_failed", "ts": 1_700_000_000, "props": {}},
            "events[0].ts",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "login_failed",
                "ts": "2026-01-01T10:00:00",
                "props": {},
            },
            "events[0].ts",
        ),
        (
            {
                "id": str(uuid.uuid4()),
                "type": "login_failed",
                "ts": 1_700_000_000_000,
                "props": {"why": "x"},
            },
            "events[0].props.why",
        ),
        ({"id": str(uuid.uuid4()), "type": "login_failed", "props": {}}, "events[0].ts"),
    ],
)
async def test_each_invalid_event_gets_its_field_named(
    app: FastAPI, client: httpx.AsyncClient, event: dict, field: str
) -> None:
    shop = await f.shop(app, client)
    r = await f.track(client, f.batch(shop, [event]))
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field


async def test_envelope_errors(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    ev = f.page("https://shop.example/")
    cases = [
        ({"site_key": shop.site_key, "visit_id": "s", "events": [ev]}, "visitor_id"),
        ({**f.batch(shop, [ev]), "visitor_id": "has space"}, "visitor_id"),
        ({**f.batch(shop, [ev]), "events": []}, "events"),
        ({**f.batch(shop, [ev]), "extra": 1}, "extra"),
        ([1, 2], "body"),
    ]
    for body, field in cases:
        r = await f.track(client, body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]["field"] == field
    r = await client.post(
        "/api/v1/track", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["detail"]["field"] == "body"
    r = await client.post(
        "/api/v1/track", content=b"<xml/>", headers={"content-type": "application/xml"}
    )
    assert r.status_code == 415
    assert r.json()["detail"]["field"] == "content-type"


async def test_text_plain_beacon_body_is_accepted(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    body = jsonx.dumps(f.batch(shop, [f.page("https://shop.example/")]))
    r = await client.post(
        "/api/v1/track",
        content=body,
        headers={"content-type": "text/plain;charset=UTF-8", "Origin": f.ORIGIN},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert r.headers["access-control-allow-origin"] == f.ORIGIN


def _changed_last_character(key: str) -> str:
    # A real key with its last character changed, never equal to the key itself (keys are random).
    return key[:-1] + ("y" if key.endswith("x") else "x")


async def test_unknown_site_key_reveals_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    ev = f.page("https://shop.example/")
    answers = [
        await f.track(client, {**f.batch(shop, [ev]), "site_key": key})
        for key in ("ks_doesnotexist000", "garbage", _changed_last_character(shop.site_key))
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.json()["detail"]["message"] for r in answers}) == 1
    r = await f.track(client, {k: v for k, v in f.batch(shop, [ev]).items() if k != "site_key"})
    assert r.status_code == 401
    assert r.json()["detail"]["field"] == "site_key"


async def test_origin_is_checked(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client, origins=["https://shop.example", "https://*.kauppa.fi"])
    body = f.batch(shop, [f.page("https://shop.example/")])
    r = await f.track(client, body, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert r.json()["detail"]["field"] == "origin"
    for ok in ("https://shop.example", "https://www.kauppa.fi", "https://a.b.kauppa.fi"):
        body = f.batch(shop, [f.page("https://shop.example/")])
        r = await f.track(client, body, headers={"Origin": ok})
        assert r.status_code == 200, (ok, r.text)
    for bad in (
        "http://www.kauppa.fi",
        "https://kauppa.fi.evil.example",
        "https://evilkauppa.fi",
        "null",
    ):
        r = await f.track(
            client, f.batch(shop, [f.page("https://shop.example/")]), headers={"Origin": bad}
        )
        assert r.status_code == 403, bad


async def test_preflight_allows_the_browser_to_post(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.options(
        "/api/v1/track",
        headers={
            "Origin": f.ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == f.ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]


async def test_limits_body_and_batch_size(database_url: str) -> None:
    settings = make_settings(
        database_url, track_max_body_bytes=20_000, track_max_events=5, track_max_props_bytes=300
    )
    from kohtaamo.app import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        shop = await f.shop(app, client)
        r = await f.track(
            client, f.batch(shop, [f.page("https://shop.example/") for _ in range(6)])
        )
        assert r.status_code == 422
        assert r.json()["detail"]["field"] == "events"
        big = f.event("custom:note", {"text": "x" * 400})
        r = await f.track(client, f.batch(shop, [big]))
        assert r.status_code == 422
        assert r.json()["detail"]["field"] == "events[0].props"
        huge = f.batch(shop, [f.event("custom:x", {"t": "y" * 30_000})])
        r = await f.track(client, huge)
        assert r.status_code == 413
        assert r.json()["detail"]["field"] == "body"


async def test_rate_limit_answers_429_with_retry_after(database_url: str) -> None:
    # A token refills every 100 s: however slow the machine, no refill lands inside the test.
    settings = make_settings(database_url, track_rate_per_site=0.01, track_burst_per_site=3)
    from kohtaamo.app import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        shop = await f.shop(app, client)
        codes = []
        for _ in range(5):
            r = await f.track(client, f.batch(shop, [f.page("https://shop.example/")]))
            codes.append(r.status_code)
        assert codes[:3] == [200, 200, 200]
        assert codes[3] == 429
        assert int(r.headers["retry-after"]) >= 1
        other = await f.shop(app, client, name="Toinen")  # limits are per site
        r = await f.track(client, f.batch(other, [f.page("https://shop.example/")]))
        assert r.status_code == 200


async def test_future_timestamp_is_clamped_and_flagged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    future = f.page("https://shop.example/", ts=f.now_ms(+86_400))
    normal = f.page("https://shop.example/b", ts=f.now_ms(-60))
    r = await f.track(client, f.batch(shop, [future, normal]))
    assert r.status_code == 200, r.text
    assert r.json()["clamped"] == 1
    stored = {e["id"]: e for e in await _events_of(client, shop)}
    assert stored[future["id"]]["clamped"] is True
    assert stored[normal["id"]]["clamped"] is False
    from datetime import datetime

    clamped_ts = datetime.fromisoformat(stored[future["id"]]["ts"])
    assert abs(clamped_ts.timestamp() - f.now_ms() / 1000) < 60


async def test_iso_timestamps_with_zone_are_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    ev = f.event("login_failed", ts="2026-01-02T10:00:00+02:00")
    assert (await f.track(client, f.batch(shop, [ev]))).status_code == 200
    [stored] = await _events_of(client, shop)
    assert stored["ts"].startswith("2026-01-02T08:00:00")


async def test_visits_numbering_utm_and_identity(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    landing = (
        "https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=joulu&nl=L42"
    )
    r = await f.track(
        client,
        f.batch(shop, [f.page(landing, "landing", referrer="https://mail.example/")], visit="a"),
    )
    assert (r.json()["visit_number"], r.json()["returning"]) == (1, False)
    r = await f.track(
        client, f.batch(shop, [f.page("https://shop.example/p/1", "product")], visit="a")
    )
    assert r.json()["visit_number"] == 1
    r = await f.track(
        client,
        f.batch(
            shop,
            [
                f.page("https://shop.example/", "landing"),
                f.event("identify", {"customer_id": "C-7"}),
            ],
            visit="b",
        ),
    )
    assert (r.json()["visit_number"], r.json()["returning"]) == (2, True)
    h = shop.owner.headers
    visits = (
        await client.get(f"/api/v1/workspaces/{shop.id}/visitors/vis-1/visits", headers=h)
    ).json()
    first, second = visits
    assert (first["number"], second["number"]) == (1, 2)
    assert (
        first["utm_source"],
        first["utm_medium"],
        first["utm_campaign"],
        first["newsletter_id"],
    ) == ("newsletter", "email", "joulu", "L42")
    assert first["landing_url"] == landing
    assert first["referrer"] == "https://mail.example/"
    assert second["customer_id"] == "C-7"
    visitor = (await client.get(f"/api/v1/workspaces/{shop.id}/visitors/vis-1", headers=h)).json()
    assert (visitor["visit_count"], visitor["customer_id"]) == (2, "C-7")


async def test_concurrent_new_visits_of_one_visitor_get_distinct_numbers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    answers = await asyncio.gather(
        *(
            f.track(client, f.batch(shop, [f.page("https://shop.example/")], visit=f"v{i}"))
            for i in range(6)
        )
    )
    assert sorted(r.json()["visit_number"] for r in answers) == [1, 2, 3, 4, 5, 6]


async def test_live_state_of_the_visit(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    events = [
        f.page("https://shop.example/k/kamerat?utm_source=fb", "category"),
        f.page("https://shop.example/p/1", "product", product_id="cam-1", category="kamerat"),
        f.event(
            "cart_add",
            {"product_id": "cam-1", "category": "kamerat", "unit_price": 49900, "quantity": 1},
        ),
        f.event(
            "cart_add",
            {"product_id": "sd-64", "category": "muistikortit", "unit_price": 1990, "quantity": 2},
        ),
        f.event("cart_remove", {"product_id": "sd-64", "unit_price": 1990, "quantity": 1}),
        f.page("https://shop.example/cart", "cart"),
        f.event("form_error", {"form": "checkout", "field": "email"}),
        f.event("form_error", {"form": "checkout", "field": "email"}),
        f.event("form_error", {"form": "checkout", "field": "phone"}),
    ]
    for i, ev in enumerate(events):
        ev["ts"] = f.now_ms(-100 + i)
    r = await f.track(client, f.batch(shop, events))
    assert r.status_code == 200
    # Re-sending the same events must not change any count.
    assert (await f.track(client, f.batch(shop, events))).json()["duplicates"] == len(events)
    live = (
        await client.get(
            f"/api/v1/workspaces/{shop.id}/visitors/vis-1/visits/visit-1/live",
            headers=shop.owner.headers,
        )
    ).json()
    assert live["page"]["type"] == "cart"
    assert live["page"]["path"] == "/cart"
    assert live["form_errors"] == {"checkout.email": 2, "checkout.phone": 1}
    assert live["counts"]["form_error"] == 3
    assert live["counts"]["page_view"] == 3
    assert live["cart"]["lines"]["sd-64"]["quantity"] == 1
    assert live["cart"]["value"] == 49900 + 1990
    assert live["product_views_by_category"] == {"kamerat": 1}
    assert live["utm"] == {"source": "fb"}
    assert live["pages_viewed"] == 3
    assert live["number"] == 1
    assert live["returning"] is False


async def test_server_side_events_with_a_secret_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    body = {
        "visitor_id": "vis-1",
        "visit_id": "srv",
        "events": [f.event("purchase", {"order_id": "O-1", "value": 5990, "currency": "EUR"})],
    }
    r = await client.post(
        "/api/v1/track", json=body, headers={"Authorization": f"Bearer {shop.api_key}"}
    )
    assert r.status_code == 200, r.text
    [stored] = await _events_of(client, shop)
    assert stored["source"] == "server"
    r = await client.post("/api/v1/track", json=body, headers={"Authorization": "Bearer ksk_wrong"})
    assert r.status_code == 401


async def test_workspaces_do_not_share_event_ids(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await f.shop(app, client, name="A")
    b = await f.shop(app, client, name="B")
    ev = f.page("https://shop.example/")
    assert (await f.track(client, f.batch(a, [ev]))).json()["accepted"] == 1
    assert (await f.track(client, f.batch(b, [ev]))).json()["accepted"] == 1
    # and neither can read the other's visitor
    r = await client.get(f"/api/v1/workspaces/{b.id}/visitors/vis-1", headers=a.owner.headers)
    assert r.status_code == 404

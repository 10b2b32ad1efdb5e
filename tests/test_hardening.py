"""Regression tests from the review of the foundation: inputs and failures that once gave a 500,
double counting, key collisions, and limits that could be reset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from kohtaamo.kit.ratelimit import MemoryRateLimiter
from kohtaamo.tracking.live import RedisLiveStore
from kohtaamo.tracking.writer import SqliteWriter, make_writer
from tests import factory as f
from tests import services

URL = "https://shop.example/"


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (f.event("login_failed", ts=1e20), "events[0].ts"),
        (f.event("login_failed", ts=True), "events[0].ts"),
        (f.event("login_failed", ts=[1]), "events[0].ts"),
        (f.event("custom:deep", _nested(300)), "events[0].props"),
        (f.page("https://[/"), "events[0].props.url"),
        (f.page("http://[::1/x"), "events[0].props.url"),
        (f.page("https://shop.example/a\u0000b"), "events[0].props.url"),
        (f.event("custom:x", {"note": "a\u0000b"}), "events[0].props.note"),
        (f.event("custom:x", {"k\u0000": 1}), "events[0].props.k\\u0000"),
    ],
)
async def test_hostile_inputs_are_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, event: dict, field: str
) -> None:
    shop = await f.shop(app, client)
    r = await f.track(client, f.batch(shop, [f.page(URL), event]))
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field.replace("[0]", "[1]")
    assert r.json()["detail"]["index"] == 1


async def test_a_non_object_event_is_listed_with_the_others(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    r = await f.track(client, f.batch(shop, [[1, 2], f.page("/relative")]))
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (0, "events[0]"),
        (1, "events[1].props.url"),
    ]


async def test_nul_in_a_landing_query_is_dropped_not_fatal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    r = await f.track(client, f.batch(shop, [f.page(URL + "?utm_source=a%00b&utm_medium=%00")]))
    assert r.status_code == 200, r.text
    [visit] = (
        await client.get(
            f"/api/v1/workspaces/{shop.id}/visitors/vis-1/visits", headers=shop.owner.headers
        )
    ).json()
    assert visit["utm_source"] == "ab"


async def test_a_repeated_id_in_one_batch_is_applied_to_live_state_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    add = f.event("cart_add", {"product_id": "p", "unit_price": 1000})
    r = await f.track(client, f.batch(shop, [add, dict(add)]))
    assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 1)
    live = (
        await client.get(
            f"/api/v1/workspaces/{shop.id}/visitors/vis-1/visits/visit-1/live",
            headers=shop.owner.headers,
        )
    ).json()
    assert live["counts"] == {"cart_add": 1}
    assert live["cart"]["value"] == 1000


async def test_huge_carts_stay_storable(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    big = [
        f.event("cart_add", {"product_id": f"p{i}", "unit_price": 10**11, "quantity": 10_000})
        for i in range(200)
    ]
    r = await f.track(client, f.batch(shop, big))
    assert r.status_code == 200, r.text
    live = (
        await client.get(
            f"/api/v1/workspaces/{shop.id}/visitors/vis-1/visits/visit-1/live",
            headers=shop.owner.headers,
        )
    ).json()
    assert live["cart"]["value"] == 2**53 - 1


@pytest.mark.redis
async def test_stored_events_answer_200_even_when_live_state_fails(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The events are committed, so the answer says so; a retry would only find duplicates."""
    services.require_redis()
    shop = await f.shop(app, client)
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)  # nothing listens
    app.state.tracker.live = RedisLiveStore(dead, ttl=60)
    try:
        r = await f.track(client, f.batch(shop, [f.page(URL)]))
    finally:
        await dead.aclose()
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    events = await client.get(
        f"/api/v1/workspaces/{shop.id}/visitors/vis-1/events", headers=shop.owner.headers
    )
    assert len(events.json()) == 1


@pytest.mark.redis
async def test_redis_live_keys_do_not_collide() -> None:
    services.require_redis()
    redis = Redis.from_url(services.REDIS_URL)
    store = RedisLiveStore(redis, ttl=60, prefix="kohtaamo-test:collide:")
    try:
        a = await store.update((1, "alice:x", "s1"), [], number=1, customer_id="A", currency="EUR")
        b = await store.update((1, "alice", "x:s1"), [], number=1, customer_id=None, currency="EUR")
        assert a["customer_id"] == "A"
        assert b["customer_id"] is None
    finally:
        await redis.delete(*[k async for k in redis.scan_iter("kohtaamo-test:collide:*")])
        await redis.aclose()


async def test_storage_failure_is_503_and_nothing_is_claimed(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    shop = await f.shop(app, client)
    broken = SqliteWriter(str(tmp_path / "no-tables.db"))  # a real file without the schema
    ingestor = app.state.tracker.ingestor
    real, ingestor._writer = ingestor._writer, broken
    try:
        r = await f.track(client, f.batch(shop, [f.page(URL)]))
    finally:
        ingestor._writer = real
        await broken.close()
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert "nothing was stored" in r.json()["detail"]["message"]


def test_the_writer_opens_the_file_sqlalchemy_opens(tmp_path: Path) -> None:
    writer = make_writer(f"sqlite+aiosqlite:///{tmp_path}/k.db?timeout=10")
    assert isinstance(writer, SqliteWriter)
    assert writer._path == f"{tmp_path}/k.db"


async def test_a_flood_of_new_keys_cannot_reset_a_limit() -> None:
    limiter = MemoryRateLimiter(max_keys=50)
    for _ in range(3):
        await limiter.hit("victim", rate=0.001, burst=3)
    assert not (await limiter.hit("victim", rate=0.001, burst=3)).allowed
    for i in range(500):
        await limiter.hit(f"noise-{i}", rate=0.001, burst=3)
    assert not (await limiter.hit("victim", rate=0.001, burst=3)).allowed


async def test_default_ports_are_dropped_from_origins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client, origins=["https://kauppa.example:443", "http://k.example:80"])
    r = await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)
    assert r.json()["allowed_origins"] == ["https://kauppa.example", "http://k.example"]
    body = f.batch(shop, [f.page(URL)])
    r = await f.track(client, body, headers={"Origin": "https://kauppa.example"})
    assert r.status_code == 200, r.text


async def test_staff_text_with_nul_is_422_not_500(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}", json={"name": "a\u0000b"}, headers=shop.owner.headers
    )
    # SQLite could store it, PostgreSQL cannot: the rule is the same on both.
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "body.name"
    r = await client.post(
        "/api/v1/auth/token", json={"email": shop.owner.email, "password": "x\u0000"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "body.password"


def test_demo_refuses_production(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "kohtaamo"
    env = {"KOHTAAMO_ENVIRONMENT": "production", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [str(exe), "demo", "--db", str(tmp_path / "d.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode != 0
    assert "KOHTAAMO_ENVIRONMENT" in r.stderr
    assert not (tmp_path / "d.db").exists()

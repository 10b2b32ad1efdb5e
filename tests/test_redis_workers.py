"""Several workers share one shop through Redis: live visit state and rate limits are common."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from kohtaamo.app import create_app
from tests import factory as f
from tests import services
from tests.conftest import make_settings

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    services.require_redis()
    client = Redis.from_url(services.REDIS_URL)
    await client.flushdb()
    await client.aclose()
    return services.REDIS_URL


@asynccontextmanager
async def workers(
    database_url: str, redis_url: str, n: int = 2, **overrides: object
) -> AsyncIterator[list[tuple[FastAPI, httpx.AsyncClient]]]:
    """`n` independent app instances (own engine, caches, limiter clients) on one DB and one Redis."""
    async with AsyncExitStack() as stack:
        out = []
        for _ in range(n):
            app = create_app(make_settings(database_url, redis_url=redis_url, **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w")
            )
            out.append((app, client))
        yield out


async def test_live_state_is_identical_from_another_worker(
    database_url: str, redis_url: str
) -> None:
    async with workers(database_url, redis_url) as [(app1, c1), (_app2, c2)]:
        shop = await f.shop(app1, c1)
        first = [
            f.page("https://shop.example/cart", "cart", ts=f.now_ms(-5)),
            f.event("form_error", {"form": "checkout", "field": "email"}, ts=f.now_ms(-4)),
        ]
        second = [
            f.event("form_error", {"form": "checkout", "field": "email"}, ts=f.now_ms(-3)),
            f.event(
                "cart_add", {"product_id": "p", "unit_price": 500, "quantity": 3}, ts=f.now_ms(-2)
            ),
        ]
        assert (await f.track(c1, f.batch(shop, first))).status_code == 200
        assert (await f.track(c2, f.batch(shop, second))).status_code == 200  # the other worker
        url = f"/api/v1/workspaces/{shop.id}/visitors/vis-1/visits/visit-1/live"
        s1 = (await c1.get(url, headers=shop.owner.headers)).json()
        s2 = (await c2.get(url, headers=shop.owner.headers)).json()
        assert s1 == s2
        assert s1["form_errors"] == {"checkout.email": 2}
        assert s1["cart"]["value"] == 1500
        assert s1["page"]["type"] == "cart"


async def test_rate_limit_is_shared_by_workers(database_url: str, redis_url: str) -> None:
    # A token refills every 100 s: however slow the machine, no refill lands inside the test.
    async with workers(
        database_url, redis_url, track_rate_per_site=0.01, track_burst_per_site=4
    ) as ws:
        (app1, c1), (_app2, c2) = ws
        shop = await f.shop(app1, c1)
        codes = []
        for i in range(6):
            client = (c1, c2)[i % 2]
            r = await f.track(client, f.batch(shop, [f.page("https://shop.example/")]))
            codes.append(r.status_code)
        assert codes[:4] == [200] * 4
        assert codes[4:] == [429, 429]
        assert int(r.headers["retry-after"]) >= 1


async def test_login_throttle_is_shared_by_workers(database_url: str, redis_url: str) -> None:
    async with workers(database_url, redis_url, login_attempts_per_window=3) as [
        (app1, c1),
        (_a, c2),
    ]:
        await f.user(app1, c1, "agent@example.fi")  # one successful login counts as an attempt
        codes = []
        for i in range(3):
            r = await (c1, c2)[i % 2].post(
                "/api/v1/auth/token",
                json={"email": "agent@example.fi", "password": "wrong-password"},
            )
            codes.append(r.status_code)
        assert codes == [401, 401, 429]


async def test_rule_arms_are_the_same_on_every_worker_and_after_a_restart(
    database_url: str, redis_url: str
) -> None:
    from tests import rulekit as rk

    arms: dict[str, str] = {}
    async with workers(database_url, redis_url) as [(app1, c1), (app2, c2)]:
        shop = await f.shop(app1, c1)
        clocks = [rk.use_clock(app1), rk.use_clock(app2)]
        await rk.agents(app1, shop, online=2)
        rule = await rk.create(
            c1, shop, condition={">": [{"var": "events.server_error"}, 0]}, holdout_share=0.5
        )
        for i in range(40):
            # The visit's first event lands on one worker, the matching one on the other.
            first, second = (c1, c2) if i % 2 else (c2, c1)
            v = rk.Visitor(first, shop, clocks[0], visitor=f"w-{i}")
            await v.page("/", "landing")
            v.client = second
            answer = await v.send("server_error", {"status": 500})
            arms[v.visitor] = "fired" if answer["actions"] else "held_out"
            # The same visit on the first worker: the per-visit cap is shared, nothing again.
            v.client = first
            assert (await v.send("server_error", {"status": 503}))["actions"] == []
        assert 8 <= list(arms.values()).count("held_out") <= 32
        ex = await rk.exposures(c1, shop, rule["id"])
        assert sorted(e["visitor_id"] for e in ex) == sorted(arms)  # one decision per visit
    # A restart: new processes, new caches; the arms come from the rule's stored seed.
    async with workers(database_url, redis_url) as [(app3, c3), (_app4, _c4)]:
        clock = rk.use_clock(app3)
        for visitor, arm in arms.items():
            v = rk.Visitor(c3, shop, clock, visitor=visitor)  # a new visit
            answer = await v.send("server_error", {"status": 500})
            assert ("fired" if answer["actions"] else "held_out") == arm, visitor


async def test_two_workers_deciding_at_once_fire_a_rule_once_per_visit(
    database_url: str, redis_url: str
) -> None:
    import asyncio

    from tests import rulekit as rk

    async with workers(database_url, redis_url) as [(app1, c1), (app2, c2)]:
        shop = await f.shop(app1, c1)
        clock = rk.use_clock(app1)
        app2.state.tracker.clock = clock
        await rk.agents(app1, shop, online=1)
        rule = await rk.create(c1, shop, condition={">": [{"var": "events.server_error"}, 0]})
        for i in range(10):
            a = rk.Visitor(c1, shop, clock, visitor=f"race-{i}")
            b = rk.Visitor(c2, shop, clock, visitor=a.visitor, visit=a.visit)
            answers = await asyncio.gather(
                a.send("server_error", {"status": 500}), b.send("server_error", {"status": 502})
            )
            assert sum(len(x["actions"]) for x in answers) == 1, answers
        ex = await rk.exposures(c1, shop, rule["id"])
        assert len(ex) == 10


async def test_a_rule_edited_on_one_worker_is_seen_by_the_other(
    database_url: str, redis_url: str
) -> None:
    from tests import rulekit as rk

    # Cache time 0: every decision asks whether the rules changed (by revision, not by clock).
    async with workers(database_url, redis_url, rules_cache_seconds=0) as [(app1, c1), (app2, c2)]:
        shop = await f.shop(app1, c1)
        clock = rk.use_clock(app2)
        await rk.agents(app1, shop, online=1)
        rule = await rk.create(c1, shop, condition={">": [{"var": "events.server_error"}, 0]})
        v = rk.Visitor(c2, shop, clock)
        assert rk.fired(await v.send("server_error", {"status": 500})) == [rule["id"]]
        r = await c1.patch(
            f"/api/v1/workspaces/{shop.id}/rules/{rule['id']}",
            json={"enabled": False},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200
        w = rk.Visitor(c2, shop, clock)
        assert (await w.send("server_error", {"status": 500}))["actions"] == []

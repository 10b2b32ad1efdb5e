"""The rule engine under failure and abuse: isolation, limits, clocks, write failures."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.rules import extensions, jsonlogic
from tests import factory as f
from tests import rulekit as rk


@pytest.fixture
def clock(app: FastAPI) -> rk.Clock:
    return rk.use_clock(app)


async def test_a_rule_that_fails_never_silences_the_others(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    good = await rk.create(
        client, shop, name="good", condition={">": [{"var": "events.server_error"}, 0]}, priority=1
    )
    # Saved fine, fails on every evaluation (json-logic-js throws on `*` with no arguments).
    bad = await rk.create(client, shop, name="bad", condition={"*": []}, priority=100)
    v = rk.Visitor(client, shop, clock)
    assert rk.fired(await v.send("server_error", {"status": 500})) == [good["id"]]
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules/try",
        json={"rule_id": bad["id"], "context": {}},
        headers=shop.owner.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "condition"


def test_regex_with_catastrophic_backtracking_stops_at_its_time_limit() -> None:
    started = time.perf_counter()
    assert extensions.regex("^(a+)+$", "a" * 40 + "!") is False  # ~10^12 steps without a limit
    assert time.perf_counter() - started < 5  # generous: the limit is 5 ms, not a timing test
    assert extensions.regex("^/kassa", "/kassa/maksu") is True


def test_rules_cannot_build_huge_values() -> None:
    doubling = {
        "reduce": [[1] * 40, {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "x"]
    }
    with pytest.raises(jsonlogic.RuleError, match="cat"):
        jsonlogic.apply(doubling, {})
    with pytest.raises(jsonlogic.RuleError, match="cat"):
        jsonlogic.compile(doubling)({})
    growing = {
        "reduce": [[1] * 40, {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]
    }
    with pytest.raises(jsonlogic.RuleError, match="merge"):
        jsonlogic.apply(growing, {})
    # JavaScript clamps infinite positions instead of failing.
    assert jsonlogic.apply({"substr": ["kassa", "Infinity"]}, {}) == ""
    assert jsonlogic.apply({"substr": ["kassa", 1, "Infinity"]}, {}) == "assa"
    assert jsonlogic.apply({"substr": ["kassa", "-Infinity"]}, {}) == "kassa"


async def test_a_visitor_clock_two_minutes_slow_does_not_fire_idle_rules_at_once(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "cart-idle")
    slow = rk.Clock()
    slow.t = clock.t - 120  # the visitor's computer is two minutes behind the server
    v = rk.Visitor(client, shop, slow)
    await v.send("cart_add", {"product_id": "p", "unit_price": 1000})
    answer = await v.page("/kori", "cart")
    assert answer["actions"] == []
    assert 90 <= answer["check_in"] <= 91  # on the server's clock
    clock.advance(answer["check_in"])
    assert rk.fired(await v.check()) == [rules["cart-idle"]["id"]]


async def test_sent_at_places_queued_events_in_server_time(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    await rk.install(client, shop, "cart-idle")
    fast = clock.ms() + 240_000  # four minutes ahead: within the allowed skew, not clamped
    body = f.batch(
        shop,
        [
            f.event("cart_add", {"product_id": "p", "unit_price": 1000}, ts=fast - 30_000),
            f.page("https://shop.example/kori", "cart", ts=fast - 20_000),
        ],
    )
    body["sent_at"] = fast  # the page was entered 20 s ago by the visitor's own clock
    r = await f.track(client, body)
    assert r.status_code == 200, r.text
    assert 69 <= r.json()["check_in"] <= 71
    body["sent_at"] = "not a time"
    r = await f.track(client, body)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "sent_at"


async def test_nobody_online_arms_no_endless_check_backs(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.install(client, shop, "default")  # quiet when nobody is online
    v = rk.Visitor(client, shop, clock)
    answer = await v.page("/", "landing")
    clock.advance(answer["check_in"])
    answer = await v.check()
    assert answer["actions"] == []
    assert answer["check_in"] is None


async def test_a_rule_held_back_by_busy_agents_waits_when_another_acted(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1, capacity=1, active=1)  # the only agent is busy
    await rk.create(client, shop, name="chat", condition=True, priority=100, min_free_agents=1)
    suggest = await rk.create(
        client,
        shop,
        name="suggest",
        condition=True,
        priority=10,
        action={"type": "suggest_product", "product_id": "p", "messages": {"fi": "Katso tämä"}},
    )
    v = rk.Visitor(client, shop, clock)
    answer = await v.page("/", "landing")
    assert rk.fired(answer) == [suggest["id"]]
    assert answer["check_in"] is None  # no timer to open a chat right after the suggestion


async def test_a_failed_exposure_write_gives_the_moment_back(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rule = await rk.create(client, shop, condition={">": [{"var": "events.server_error"}, 0]})
    log = app.state.rules._log
    real = log._insert
    calls = {"n": 0}

    async def flaky(rows: list) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return await real(rows)

    monkeypatch.setattr(log, "_insert", flaky)
    v = rk.Visitor(client, shop, clock)
    assert (await v.send("server_error", {"status": 500}))["actions"] == []  # not recorded: hidden
    assert rk.fired(await v.send("server_error", {"status": 502})) == [rule["id"]]
    assert len(await rk.exposures(client, shop, rule["id"])) == 1


@pytest.mark.parametrize(
    "condition",
    [
        '{"!": ' * 300 + "1" + "}" * 300,  # deeper than Python's stack likes
        '{"==": ["\\ud800", 1]}',  # a lone surrogate: no database can store it
    ],
)
async def test_hostile_conditions_get_a_4xx(
    app: FastAPI, client: httpx.AsyncClient, condition: str
) -> None:
    shop = await f.shop(app, client)
    body = '{"name": "x", "action": {"messages": {"fi": "x"}}, "condition": ' + condition + "}"
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules",
        content=body,
        headers={**shop.owner.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "condition"

"""Opening rules through the public API: saving, templates on realistic visits, timers, caps,
holdouts, priority and load-aware throttling."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests import factory as f
from tests import rulekit as rk


@pytest.fixture
def clock(app: FastAPI) -> rk.Clock:
    return rk.use_clock(app)


async def test_unknown_operator_is_refused_with_its_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules",
        json={
            "name": "broken",
            "condition": {"and": [{"==": [1, 1]}, {"frobnicate": [1]}]},
            "action": {"messages": {"fi": "Hei"}},
        },
        headers=shop.owner.headers,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == "condition.and[1].frobnicate"
    assert "unknown operator" in detail["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"condition": {"regex": ["(", {"var": "page.path"}]}}, "condition.regex[0]"),
        ({"condition": {"a": 1, "b": 2}}, "condition"),
        ({"condition": True, "holdout_share": 0.95}, "body.holdout_share"),
        ({"condition": True, "active_hours": {"from": "25:00"}}, "body.active_hours.from"),
        (
            {"condition": True, "action": {"type": "suggest_product", "messages": {"fi": "x"}}},
            "body.action",
        ),
        ({"condition": True, "action": {"messages": {}}}, "body.action.messages"),
        ({"condition": True, "goal": "fame"}, "body.goal"),
        ({"condition": True, "seed": "short"}, "body.seed"),
        ({"condition": True, "seed": "not a seed!"}, "body.seed"),
    ],
)
async def test_bad_rules_name_the_field(
    app: FastAPI, client: httpx.AsyncClient, body: dict, field: str
) -> None:
    shop = await f.shop(app, client)
    full = {"name": "r", "action": {"messages": {"fi": "Hei"}}, **body}
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules", json=full, headers=shop.owner.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field


async def test_agent_can_read_but_not_write_rules(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    agent = await f.user(app, client, "agent@example.fi", workspace_id=shop.id)
    rule = await rk.create(client, shop, condition=True)
    r = await client.get(f"/api/v1/workspaces/{shop.id}/rules", headers=agent.headers)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [rule["id"]]
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}/rules/{rule['id']}",
        json={"enabled": False},
        headers=agent.headers,
    )
    assert r.status_code == 403


async def test_disabling_a_rule_stops_it_at_once(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rule = await rk.create(client, shop, condition={">": [{"var": "events.server_error"}, 0]})
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}/rules/{rule['id']}",
        json={"enabled": False},
        headers=shop.owner.headers,
    )
    assert r.json()["enabled"] is False
    v = rk.Visitor(client, shop, clock)
    assert (await v.send("server_error", {"status": 500}))["actions"] == []


# ------------------------------------------------------------------ templates on realistic visits

PROBLEM_VISITS = {
    "email-already-registered": [
        ("page_view", {"url": "https://shop.example/rekisteroidy", "page_type": "account"}),
        ("email_already_registered", {}),
    ],
    "cart-add-failed": [
        ("page_view", {"url": "https://shop.example/t/kamera", "page_type": "product"}),
        ("cart_add_failed", {"product_id": "kamera", "unit_price": 49900, "reason": "stock"}),
    ],
    "login-or-registration-failed": [
        ("page_view", {"url": "https://shop.example/kirjaudu", "page_type": "account"}),
        ("login_failed", {"reason": "password"}),
        ("login_failed", {"reason": "password"}),
    ],
    "invoice-payment-failed": [
        ("page_view", {"url": "https://shop.example/kassa", "page_type": "checkout"}),
        ("payment_failed", {"method": "invoice", "reason": "credit check"}),
    ],
    "server-error": [
        ("page_view", {"url": "https://shop.example/kassa", "page_type": "checkout"}),
        ("server_error", {"status": 502}),
    ],
    "discount-code-rejected": [
        ("page_view", {"url": "https://shop.example/kori", "page_type": "cart"}),
        ("discount_rejected", {"code": "KEVAT25"}),
    ],
    "internal-404": [
        ("page_view", {"url": "https://shop.example/", "page_type": "landing"}),
        ("not_found", {"url": "https://shop.example/vanha", "internal": True}),
    ],
    "account-locked": [
        ("page_view", {"url": "https://shop.example/kirjaudu", "page_type": "account"}),
        ("login_failed", {}),
        ("account_locked", {}),
    ],
}


@pytest.mark.parametrize("slug", sorted(PROBLEM_VISITS))
async def test_problem_moment_template_fires_on_its_moment_only(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock, slug: str
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=2)
    rules = await rk.install(client, shop)
    v = rk.Visitor(client, shop, clock)
    *before, last = PROBLEM_VISITS[slug]
    for type_, props in before:
        clock.advance(3)
        assert rk.fired(await v.send(type_, props)) == [], (slug, type_)
    clock.advance(3)
    answer = await v.send(*last)
    assert rk.fired(answer) == [rules[slug]["id"]]
    action = answer["actions"][0]
    assert action["type"] == "open_chat"
    assert action["mode"] == "chat"
    assert action["message"] == rules[slug]["action"]["messages"]["fi"]  # the shop's locale
    assert set(action["messages"]) == {"fi", "en"}
    ex = await rk.exposures(client, shop, rules[slug]["id"])
    assert [(e["outcome"], e["visit_id"]) for e in ex] == [("fired", v.visit)]


async def test_login_fails_once_is_not_yet_a_problem(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    await rk.install(client, shop, "login-or-registration-failed")
    v = rk.Visitor(client, shop, clock)
    assert rk.fired(await v.send("login_failed", {"reason": "typo"})) == []


async def test_invoice_template_ignores_other_payment_methods(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    await rk.install(client, shop, "invoice-payment-failed")
    v = rk.Visitor(client, shop, clock)
    assert rk.fired(await v.send("payment_failed", {"method": "card"})) == []


async def test_two_errors_on_one_field_fire_the_form_rule_one_each_on_two_fields_do_not(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "form-field-error-twice")
    rule_id = rules["form-field-error-twice"]["id"]

    two_fields = rk.Visitor(client, shop, clock)
    await two_fields.page("/kassa", "checkout")
    for fld in ("email", "postcode"):
        clock.advance(5)
        answer = await two_fields.send(
            "form_error", {"form": "checkout", "field": fld, "message": "virheellinen"}
        )
        assert rk.fired(answer) == []

    same_field = rk.Visitor(client, shop, clock)
    await same_field.page("/kassa", "checkout")
    clock.advance(5)
    assert (
        rk.fired(await same_field.send("form_error", {"form": "checkout", "field": "email"})) == []
    )
    clock.advance(5)
    answer = await same_field.send("form_error", {"form": "checkout", "field": "email"})
    assert rk.fired(answer) == [rule_id]


async def test_cart_idle_timer_fires_within_a_second_of_90_s_without_polling(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "cart-idle")
    v = rk.Visitor(client, shop, clock)
    await v.page("/tuote/kamera", "product", product_id="kamera", category="kamerat")
    clock.advance(10)
    await v.send("cart_add", {"product_id": "kamera", "unit_price": 49900, "category": "kamerat"})
    clock.advance(4)
    answer = await v.page("/kori", "cart")
    start = clock.t
    assert answer["actions"] == []
    # The answer says when to ask again: when 90 s of idleness will have passed.
    assert 90 <= answer["check_in"] <= 91
    clock.advance(60)  # asking early (a drifting timer) fires nothing and re-arms for the rest
    early = await v.check()
    assert early["actions"] == []
    assert 29 <= early["check_in"] <= 31
    clock.t = start + answer["check_in"]
    late = await v.check()
    assert rk.fired(late) == [rules["cart-idle"]["id"]]
    assert clock.t - start - 90 < 1.0
    # Asking about the same moment again does not open a second chat.
    assert (await v.check())["actions"] == []


async def test_activity_resets_the_idle_timer(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    await rk.install(client, shop, "cart-idle")
    v = rk.Visitor(client, shop, clock)
    await v.send("cart_add", {"product_id": "p", "unit_price": 1000})
    answer = await v.page("/kori", "cart")
    assert 90 <= answer["check_in"] <= 91
    clock.advance(80)
    answer = await v.send("custom:scrolled", {"depth": 50})
    assert 90 <= answer["check_in"] <= 91  # re-armed from the new last activity
    clock.advance(85)
    assert (await v.check())["actions"] == []


async def test_empty_cart_page_arms_no_timer(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    await rk.install(client, shop, "cart-idle")
    v = rk.Visitor(client, shop, clock)
    assert (await v.page("/kori", "cart"))["check_in"] is None


async def test_first_visit_product_template_on_time_and_not_on_a_second_visit(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "first-visit-product")
    v = rk.Visitor(client, shop, clock)
    answer = await v.page("/tuote/kamera", "product", category="kamerat")
    assert 30 <= answer["check_in"] <= 31
    clock.advance(answer["check_in"])
    assert rk.fired(await v.check()) == [rules["first-visit-product"]["id"]]
    again = v.new_visit()
    clock.advance(3600)
    answer = await again.page("/tuote/kamera", "product", category="kamerat")
    assert answer["check_in"] is None
    assert answer["returning"] is True


async def test_consideration_template_on_the_third_product_of_a_category(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "consideration")
    v = rk.Visitor(client, shop, clock)
    for i, cat in enumerate(("kamerat", "objektiivit", "kamerat")):
        clock.advance(20)
        assert rk.fired(await v.page(f"/t/{i}", "product", category=cat)) == []
    clock.advance(20)
    answer = await v.page("/t/9", "product", category="kamerat")
    assert rk.fired(answer) == [rules["consideration"]["id"]]


async def test_newsletter_arrival_template(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "newsletter-arrival")
    plain = rk.Visitor(client, shop, clock)
    assert (await plain.page("/kampanja", "landing"))["check_in"] is None
    v = rk.Visitor(client, shop, clock)
    answer = await v.page("/kampanja?utm_source=kirje&utm_medium=email", "landing")
    clock.advance(answer["check_in"])
    assert rk.fired(await v.check()) == [rules["newsletter-arrival"]["id"]]


async def test_upsell_template_suggests_a_memory_card_before_payment(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    rules = await rk.install(client, shop, "upsell-memory-card")
    v = rk.Visitor(client, shop, clock)
    await v.send("cart_add", {"product_id": "kamera", "unit_price": 49900, "category": "kamerat"})
    clock.advance(5)
    answer = await v.page("/kassa", "checkout")
    assert rk.fired(answer) == [rules["upsell-memory-card"]["id"]]
    assert answer["actions"][0]["type"] == "suggest_product"
    assert answer["actions"][0]["product_id"] == "muistikortti-64gb"
    w = rk.Visitor(client, shop, clock)
    await w.send("cart_add", {"product_id": "kamera", "unit_price": 49900, "category": "kamerat"})
    await w.send("cart_add", {"product_id": "sd", "unit_price": 1900, "category": "muistikortit"})
    assert rk.fired(await w.page("/kassa", "checkout")) == []


async def test_returning_customer_templates_read_order_history(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    from datetime import UTC, datetime

    from kohtaamo.contacts.service import record_order
    from kohtaamo.db.engine import transaction

    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "returning-customer-faq", "returning-customer-welcome")
    async with transaction(app.state.sessionmaker) as s:
        await record_order(
            s,
            workspace_id=shop.id,
            customer_id="asiakas-7",
            total=12900,
            currency="EUR",
            at=datetime(2026, 10, 1, tzinfo=UTC),
        )
    v = rk.Visitor(client, shop, clock)
    await v.send("identify", {"customer_id": "asiakas-7"})
    answer = await v.page("/ukk", "faq")
    # FAQ rule (priority 70) at 20 s; the welcome (45) at 10 s comes first and takes its moment.
    assert 10 <= answer["check_in"] <= 11
    clock.advance(answer["check_in"])
    assert rk.fired(await v.check()) == [rules["returning-customer-welcome"]["id"]]
    stranger = rk.Visitor(client, shop, clock)
    await stranger.send("identify", {"customer_id": "uusi-asiakas"})
    assert (await stranger.page("/ukk", "faq"))["check_in"] is None


async def test_returning_customer_on_the_faq_alone(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    from datetime import UTC, datetime

    from kohtaamo.contacts.service import record_order
    from kohtaamo.db.engine import transaction

    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rules = await rk.install(client, shop, "returning-customer-faq")
    async with transaction(app.state.sessionmaker) as s:
        await record_order(
            s,
            workspace_id=shop.id,
            customer_id="asiakas-9",
            total=4900,
            currency="EUR",
            at=datetime(2026, 9, 1, tzinfo=UTC),
        )
    v = rk.Visitor(client, shop, clock)
    await v.send("identify", {"customer_id": "asiakas-9"})
    answer = await v.page("/tuote/x", "product")
    assert answer["check_in"] is None  # not on the FAQ: no timer at all
    answer = await v.page("/ukk", "faq")
    assert 20 <= answer["check_in"] <= 21
    clock.advance(19)
    assert (await v.check())["actions"] == []
    clock.advance(2)
    answer = await v.check()
    assert rk.fired(answer) == [rules["returning-customer-faq"]["id"]]
    assert answer["actions"][0]["goal"] == "satisfaction"


# ------------------------------------------------------------------ priority and caps


async def test_highest_priority_wins_and_only_one_rule_fires_per_moment(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    low = await rk.create(client, shop, name="low", condition=True, priority=10)
    high = await rk.create(
        client, shop, name="high", condition={"==": [{"var": "page.type"}, "cart"]}, priority=90
    )
    v = rk.Visitor(client, shop, clock)
    assert rk.fired(await v.page("/kori", "cart")) == [high["id"]]
    clock.advance(1)
    assert rk.fired(await v.page("/", "landing")) == [low["id"]]
    clock.advance(1)
    assert rk.fired(await v.page("/kori", "cart")) == []  # both used their once-per-visit


async def test_cap_per_visit_and_per_visitor_days(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    rule = await rk.create(
        client,
        shop,
        condition={">": [{"var": "events.server_error"}, 0]},
        cap_per_visit=2,
        cap_days=3,
    )
    v = rk.Visitor(client, shop, clock)
    results = []
    for _ in range(4):
        clock.advance(2)
        results.append(rk.fired(await v.send("server_error", {"status": 500})))
    assert results == [[rule["id"]], [rule["id"]], [], []]
    clock.advance(86400)  # a day later, a new visit: still inside the three days
    v2 = v.new_visit()
    assert rk.fired(await v2.send("server_error", {"status": 500})) == []
    clock.advance(3 * 86400)
    v3 = v.new_visit()
    assert rk.fired(await v3.send("server_error", {"status": 500})) == [rule["id"]]
    ex = await rk.exposures(client, shop, rule["id"])
    outcomes = sorted((e["visit_id"], e["outcome"], e["reason"]) for e in ex)
    assert outcomes == sorted(
        [
            (v.visit, "fired", None),
            (v.visit, "fired", None),
            (v2.visit, "suppressed", "cap_days"),
            (v3.visit, "fired", None),
        ]
    )


async def test_active_hours_suppress_and_reopen(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    # The workspace's zone is Europe/Helsinki: 23:00 local is outside 09:00-21:00.
    local = datetime(2026, 11, 20, 23, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
    clock.t = local.timestamp()
    rule = await rk.create(
        client,
        shop,
        condition={">=": [{"var": "page.seconds_on_page"}, 0]},
        active_hours={"from": "09:00", "to": "21:00"},
    )
    v = rk.Visitor(client, shop, clock)
    answer = await v.page("/", "landing")
    assert answer["actions"] == []
    [ex] = await rk.exposures(client, shop, rule["id"])
    assert (ex["outcome"], ex["reason"]) == ("suppressed", "hours")


# ------------------------------------------------------------------ holdout and variants


async def test_holdout_share_and_variant_weights_are_deterministic_per_visitor(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=3)
    rule = await rk.create(
        client,
        shop,
        condition={">": [{"var": "events.discount_rejected"}, 0]},
        holdout_share=0.3,
        variants=[
            {"key": "A", "weight": 3, "messages": {"fi": "A-viesti"}},
            {"key": "B", "weight": 1, "messages": {"fi": "B-viesti"}},
        ],
    )
    arms: dict[str, str] = {}
    for i in range(200):
        v = rk.Visitor(client, shop, clock, visitor=f"visitor-{i}")
        answer = await v.send("discount_rejected", {"code": "X"})
        if answer["actions"]:
            a = answer["actions"][0]
            assert a["message"] == f"{a['variant']}-viesti"
            arms[v.visitor] = a["variant"]
        else:
            arms[v.visitor] = "held_out"
    counts = {k: list(arms.values()).count(k) for k in ("held_out", "A", "B")}
    # Binomial bounds (about 4 standard deviations) around 30 % / 52.5 % / 17.5 %.
    assert 35 <= counts["held_out"] <= 85, counts
    assert 75 <= counts["A"] <= 135, counts
    assert 15 <= counts["B"] <= 60, counts
    ex = await rk.exposures(client, shop, rule["id"])
    assert len(ex) == 200
    assert {e["visitor_id"]: e["variant"] or e["outcome"] for e in ex} == arms
    # Every visitor keeps the arm (and variant) on a later visit.
    for i in range(0, 200, 10):
        v = rk.Visitor(client, shop, clock, visitor=f"visitor-{i}")
        answer = await v.send("discount_rejected", {"code": "Y"})
        got = answer["actions"][0]["variant"] if answer["actions"] else "held_out"
        assert got == arms[v.visitor]


async def test_held_out_visitor_sees_nothing_and_ends_the_moment(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    await rk.agents(app, shop, online=1)
    high = await rk.create(
        client, shop, name="high", condition=True, priority=90, holdout_share=0.9
    )
    low = await rk.create(client, shop, name="low", condition=True, priority=10)
    held = None
    for i in range(50):
        v = rk.Visitor(client, shop, clock, visitor=f"h-{i}")
        answer = await v.page("/", "landing")
        if not answer["actions"]:
            held = v
            break
        assert rk.fired(answer) == [high["id"]]
    assert held is not None, "a 90 % holdout should hold someone out within 50 visitors"
    # The control arm is treated like the treated arm: the moment is used, the low rule waits.
    [ex] = [
        e for e in await rk.exposures(client, shop, high["id"]) if e["visitor_id"] == held.visitor
    ]
    assert ex["outcome"] == "held_out"
    assert await rk.exposures(client, shop, low["id"]) == [] or all(
        e["visitor_id"] != held.visitor for e in await rk.exposures(client, shop, low["id"])
    )


# ------------------------------------------------------------------ throttling


async def test_default_rule_backs_off_first_as_agents_fill_up(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    rules = await rk.install(client, shop, "default", "server-error")
    default_id, error_id = rules["default"]["id"], rules["server-error"]["id"]
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}/rules/{error_id}",
        json={"min_free_agents": 1},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200

    async def visitor_after_150_s() -> rk.Visitor:
        v = rk.Visitor(client, shop, clock)
        await v.page("/", "landing")
        clock.advance(151)
        return v

    # Two agents, capacity 3 each: 6 slots.
    await rk.agents(app, shop, online=2, active=1)
    v = await visitor_after_150_s()
    assert rk.fired(await v.check()) == [default_id]

    await rk.agents(app, shop, online=2, active=3)  # load 50 %: the default rule backs off
    v = await visitor_after_150_s()
    answer = await v.check()
    assert answer["actions"] == []
    assert answer["check_in"] is not None
    assert rk.fired(await v.send("server_error", {"status": 500})) == [error_id]

    await rk.agents(app, shop, online=2, active=6)  # full: the error rule needs a free agent
    w = await visitor_after_150_s()
    assert (await w.send("server_error", {"status": 500}))["actions"] == []
    reasons = {(e["rule_id"], e["reason"]) for e in await rk.exposures(client, shop, error_id)}
    assert (error_id, "agents_busy") in reasons

    await rk.agents(app, shop, online=2, active=3)  # an agent frees up: the error rule may act
    assert rk.fired(await w.check()) == [error_id]

    await rk.agents(app, shop, online=0)  # nobody online
    x = await visitor_after_150_s()
    assert (await x.check())["actions"] == []  # the default rule stays quiet
    # A rule that needs a free agent is not worth showing with nobody there...
    assert (await x.send("server_error", {"status": 500}))["actions"] == []
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}/rules/{error_id}",
        json={"min_free_agents": 0},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200
    # ...one that does not offers "leave a message" (its `offline` setting).
    y = await visitor_after_150_s()
    answer = await y.send("server_error", {"status": 500})
    assert rk.fired(answer) == [error_id]
    assert answer["actions"][0]["mode"] == "leave_message"
    reasons = {e["reason"] for e in await rk.exposures(client, shop, default_id)}
    assert {"agents_busy", "nobody_online"} <= reasons


# ------------------------------------------------------------------ try a rule


async def test_try_a_rule_on_a_live_visit_shows_the_trace(
    app: FastAPI, client: httpx.AsyncClient, clock: rk.Clock
) -> None:
    shop = await f.shop(app, client)
    v = rk.Visitor(client, shop, clock)
    await v.send("cart_add", {"product_id": "p", "unit_price": 2500, "quantity": 2})
    await v.page("/kori", "cart")
    condition = {
        "and": [{"==": [{"var": "page.type"}, "cart"]}, {">=": [{"var": "cart.value"}, 10000]}]
    }
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules/try",
        json={"condition": condition, "visitor_id": v.visitor, "visit_id": v.visit},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["matched"] is False
    assert out["context"]["cart"]["value"] == 5000
    trace = {s["path"]: s["value"] for s in out["trace"]}
    assert trace["and"] is False
    assert trace["and[0].=="] is True
    assert trace["and[1].>="] is False
    assert trace["and[1].>=[0].var"] == 5000
    # A pasted context works without any visit.
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules/try",
        json={
            "condition": condition,
            "context": {"page": {"type": "cart"}, "cart": {"value": 12000}},
        },
        headers=shop.owner.headers,
    )
    assert r.json()["matched"] is True


async def test_try_names_a_missing_visit(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules/try",
        json={"condition": True, "visitor_id": "nobody", "visit_id": "never"},
        headers=shop.owner.headers,
    )
    assert r.status_code == 404
    assert r.json()["detail"]["field"] == "visit_id"


async def test_decide_checks_the_site_key_and_origin(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    body = {"site_key": shop.site_key, "visitor_id": "v", "visit_id": "s"}
    r = await client.post("/api/v1/decide", json=body, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert r.json()["detail"]["field"] == "origin"
    r = await client.post("/api/v1/decide", json={**body, "site_key": "nope"})
    assert r.status_code == 401
    r = await client.post("/api/v1/decide", json={"site_key": shop.site_key, "visitor_id": "v"})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "visit_id"
    r = await client.post("/api/v1/decide", json=body, headers={"Origin": f.ORIGIN})
    assert r.status_code == 200
    assert r.json() == {"actions": [], "check_in": None}


async def test_demo_workspace_gets_every_template_once(app: FastAPI) -> None:
    from sqlalchemy import select

    from kohtaamo import demo
    from kohtaamo.db.engine import transaction
    from kohtaamo.rules.catalog import TEMPLATES
    from kohtaamo.rules.models import Rule

    for _ in range(2):  # `kohtaamo demo` runs again and again
        async with transaction(app.state.sessionmaker) as s:
            info = await demo.seed(s, app.state.settings)
    async with transaction(app.state.sessionmaker) as s:
        rows = (
            await s.execute(select(Rule).where(Rule.workspace_id == info.workspace_id))
        ).scalars()
        assert sorted(r.template or "" for r in rows) == sorted(t.slug for t in TEMPLATES)

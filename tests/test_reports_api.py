"""The reports API (analytics/router.py) over a filled archive: the funnel counted by hand from a
small history sent through /api/v1/track, the time-range checks, KPI rows filtered by key, the
rules report's experiment fields, 503 while no snapshot is published, and who may read a report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill, stats
from kohtaamo.analytics.archive import Archive
from kohtaamo.auth.models import User
from kohtaamo.chat import lifecycle, routing
from kohtaamo.chat import service as chat
from kohtaamo.db.engine import transaction
from kohtaamo.kit.clock import utcnow
from kohtaamo.shops.directory import Site
from tests import factory as f
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio

DAY = 86400.0


def _reports(shop: f.Shop, path: str) -> str:
    return f"/api/v1/workspaces/{shop.id}/reports{path}"


def _noon(days_ago: int) -> datetime:
    d = (utcnow() - timedelta(days=days_ago)).date()
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


async def _fill(app: FastAPI, archive: Archive) -> None:
    await fill.fill(app.state.sessionmaker, archive, settle=0)


async def _get(client: httpx.AsyncClient, url: str, who: f.Staff, **params: Any) -> httpx.Response:
    return await client.get(url, params=params, headers=who.headers)


async def _ok(client: httpx.AsyncClient, url: str, who: f.Staff, **params: Any) -> Any:
    r = await _get(client, url, who, **params)
    assert r.status_code == 200, r.text
    return r.json()


# --- the funnel ----------------------------------------------------------------------------


@dataclass
class History:
    shop: f.Shop
    base: datetime  # noon, ten days ago: the first event of the range


async def _send(
    client: httpx.AsyncClient,
    shop: f.Shop,
    visitor: str,
    visit: str,
    *events: tuple[str, dict[str, Any], datetime],
) -> None:
    body = f.batch(
        shop,
        [f.event(t, props, ts=at.isoformat()) for t, props, at in events],
        visitor=visitor,
        visit=visit,
    )
    r = await f.track(client, body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(events)


def _view(at: datetime) -> tuple[str, dict[str, Any], datetime]:
    return ("page_view", {"url": "https://shop.example/tuote/1", "page_type": "product"}, at)


def _cart(at: datetime) -> tuple[str, dict[str, Any], datetime]:
    return ("cart_add", {"product_id": "p-1", "unit_price": 2990}, at)


def _buy(order: str, at: datetime) -> tuple[str, dict[str, Any], datetime]:
    return ("purchase", {"order_id": order, "value": 2990, "currency": "EUR"}, at)


async def _rated_chat(
    app: FastAPI, shop: f.Shop, agent: f.Staff, visitor: str, rating: str
) -> None:
    site = Site(shop.id, (), "Europe/Helsinki", "fi", "EUR")
    async with transaction(app.state.sessionmaker) as s:
        said = await chat.visitor_says(
            s,
            site=site,
            presence=app.state.presence,
            visitor_key=visitor,
            visit_key=f"{visitor}-chat",
            body="Hei, kysyisin toimituksesta",
            client_id=f"{visitor}-c0",
        )
        await routing.assign(s, said.conv, user_id=agent.user_id)
        user = await s.get(User, agent.user_id)
        assert user is not None
        await chat.agent_says(
            s,
            conv=said.conv,
            user=user,
            body="Toimitus kestää 2-4 päivää.",
            client_id=f"{visitor}-a",
        )
        await lifecycle.resolve(s, said.conv, user=user, presence=app.state.presence)
        await lifecycle.rate(s, said.conv, value=rating, comment=None)


async def _history(app: FastAPI, client: httpx.AsyncClient) -> History:
    """Who reaches which stage (docs/analytics.md), counted by hand:

    p1  view, cart, buy; a later visit; a 👍 chat    -> all five stages
    p2  view, cart, buy, a view in the same visit;   -> purchase (same visit is no return); 👎 chat
    p3  view, cart                                   -> consideration
    p4  view; a 👍 chat                              -> awareness (advocacy needs every stage)
    p5  view                                         -> awareness
    p6  cart only, no page view                      -> nowhere (not aware)
    p7  view, cart, buy, two days before the range   -> nowhere
    q1 + q2: one customer on two devices: q1 views, q2 puts in the cart and buys -> purchase
    Another shop's visitor with the full path counts only there.

    awareness 6 (p1-p5, the customer), consideration 4 (p1-p3, customer), purchase 3 (p1, p2,
    customer), retention 1 (p1), advocacy 1 (p1).
    """
    shop = await f.shop(app, client)
    agent = await f.user(app, client, "aino@kauppa.fi", workspace_id=shop.id)
    base = _noon(10)

    def at(hours: float) -> datetime:
        return base + timedelta(hours=hours)

    await _send(client, shop, "p1", "p1-1", _view(at(0)), _cart(at(0.1)), _buy("o-1", at(0.2)))
    await _send(client, shop, "p1", "p1-2", _view(at(24)))
    await _send(
        client,
        shop,
        "p2",
        "p2-1",
        _view(at(1)),
        _cart(at(1.1)),
        _buy("o-2", at(1.2)),
        _view(at(1.3)),
    )
    await _send(client, shop, "p3", "p3-1", _view(at(2)), _cart(at(2.1)))
    await _send(client, shop, "p4", "p4-1", _view(at(3)))
    await _send(client, shop, "p5", "p5-1", _view(at(4)))
    await _send(client, shop, "p6", "p6-1", _cart(at(5)))
    await _send(
        client, shop, "p7", "p7-1", _view(at(-48)), _cart(at(-47.9)), _buy("o-7", at(-47.8))
    )
    who = {"customer_id": "asiakas-9"}
    await _send(client, shop, "q1", "q1-1", ("identify", who, at(6)), _view(at(6.1)))
    await _send(
        client,
        shop,
        "q2",
        "q2-1",
        ("identify", who, at(7)),
        _cart(at(7.1)),
        _buy("o-9", at(7.2)),
    )
    other = await f.shop(app, client, "Toinen")
    await _send(client, other, "p1", "p1-1", _view(at(0)), _cart(at(0.1)), _buy("x-1", at(0.2)))
    await _rated_chat(app, shop, agent, "p1", "up")
    await _rated_chat(app, shop, agent, "p2", "down")
    await _rated_chat(app, shop, agent, "p4", "up")
    return History(shop, base)


def _stages(report: dict[str, Any]) -> list[tuple[str, int, float | None]]:
    return [(s["stage"], s["people"], s["of_previous"]) for s in report["stages"]]


async def test_funnel_counts_people_per_stage(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    h = await _history(app, client)
    await _fill(app, archive)
    start, end = h.base - timedelta(hours=1), utcnow() + timedelta(hours=1)
    url = _reports(h.shop, "/funnel")
    report = await _ok(client, url, h.shop.owner, start=start.isoformat(), end=end.isoformat())
    assert datetime.fromisoformat(report["start"]) == start
    assert datetime.fromisoformat(report["end"]) == end
    assert _stages(report) == [
        ("awareness", 6, None),
        ("consideration", 4, pytest.approx(4 / 6)),
        ("purchase", 3, 0.75),
        ("retention", 1, pytest.approx(1 / 3)),
        ("advocacy", 1, 1.0),
    ]
    # An agent of the shop reads the same report.
    agent = await f.user(app, client, "olli@kauppa.fi", workspace_id=h.shop.id, role="agent")
    same = await _ok(client, url, agent, start=start.isoformat(), end=end.isoformat())
    assert same["stages"] == report["stages"]

    # Only p1's return visit lies in this range: aware, nothing more; no share after a zero.
    one = await _ok(
        client,
        url,
        h.shop.owner,
        start=(h.base + timedelta(hours=23)).isoformat(),
        end=(h.base + timedelta(hours=25)).isoformat(),
    )
    assert _stages(one) == [
        ("awareness", 1, None),
        ("consideration", 0, 0.0),
        ("purchase", 0, None),
        ("retention", 0, None),
        ("advocacy", 0, None),
    ]
    # The same range written in Helsinki time is the same instant range.
    hel = datetime.fromisoformat("2000-01-01T00:00:00+02:00").tzinfo
    local = await _ok(
        client,
        url,
        h.shop.owner,
        start=(h.base + timedelta(hours=23)).astimezone(hel).isoformat(),
        end=(h.base + timedelta(hours=25)).astimezone(hel).isoformat(),
    )
    assert local["stages"] == one["stages"]


async def test_funnel_defaults_to_the_last_thirty_days(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    shop = await f.shop(app, client)
    await _send(client, shop, "old", "old-1", _view(utcnow() - timedelta(days=31)))
    await _send(client, shop, "new", "new-1", _view(utcnow() - timedelta(days=29)))
    await _fill(app, archive)
    before = utcnow()
    report = await _ok(client, _reports(shop, "/funnel"), shop.owner)
    end = datetime.fromisoformat(report["end"])
    assert before <= end <= utcnow()
    assert datetime.fromisoformat(report["start"]) == end - timedelta(days=30)
    assert [s["people"] for s in report["stages"]] == [1, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-11-01T00:00:00", "end": "2026-11-02T00:00:00+02:00"}, "start"),
        ({"start": "2026-11-01T00:00:00"}, "start"),
        ({"start": "2026-11-01T00:00:00+02:00", "end": "2026-11-02T00:00:00"}, "end"),
        ({"end": "2026-11-02T00:00:00"}, "end"),
        ({"start": "2026-11-02T00:00:00+02:00", "end": "2026-11-02T00:00:00+02:00"}, "end"),
        ({"start": "2026-11-02T00:00:00+02:00", "end": "2026-11-01T22:00:00+00:00"}, "end"),
        ({"start": "2026-11-02T00:00:00+00:00", "end": "2026-11-02T01:00:00+02:00"}, "end"),
        ({"start": "2026-11-02T00:00:00+02:00", "end": "2026-11-01T12:00:00+02:00"}, "end"),
        ({"start": "2099-01-01T00:00:00+00:00"}, "end"),  # the default end (now) is before it
        ({"start": "eilen"}, "query.start"),
    ],
)
async def test_funnel_range_errors_name_the_field(
    app: FastAPI,
    client: httpx.AsyncClient,
    archive: Archive,
    params: dict[str, str],
    field: str,
) -> None:
    shop = await f.shop(app, client)
    r = await _get(client, _reports(shop, "/funnel"), shop.owner, **params)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert (detail["code"], detail["field"]) == ("invalid", field)
    assert detail["message"]


async def test_kpi_range_errors_name_the_field(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    shop = await f.shop(app, client)
    url = _reports(shop, "/kpis/rule.fired")
    r = await _get(client, url, shop.owner, start="2026-11-01T00:00:00+02:00", end="2026-11-02")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "end"
    r = await _get(
        client, url, shop.owner, start="2026-11-02T00:00:00Z", end="2026-11-01T00:00:00Z"
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "end"


# --- rules: KPI rows by key, and the experiment report ----------------------------------------


async def test_kpi_rows_are_filtered_by_key(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    clock = rk.use_clock(app)
    clock.t = _noon(3).timestamp()
    shop = await f.shop(app, client)
    cart = await rk.create(
        client, shop, name="Kori", condition={"==": [{"var": "page.type"}, "cart"]}
    )
    product = await rk.create(
        client, shop, name="Tuote", condition={"==": [{"var": "page.type"}, "product"]}
    )
    for i in range(3):
        v = rk.Visitor(client, shop, clock, visitor=f"c{i}")
        assert rk.fired(await v.page("/kori", "cart")) == [cart["id"]]
        clock.advance(10)
    for i in range(2):
        v = rk.Visitor(client, shop, clock, visitor=f"t{i}")
        assert rk.fired(await v.page("/tuote/1", "product")) == [product["id"]]
        clock.advance(10)
    await _fill(app, archive)
    a, b = str(cart["id"]), str(product["id"])
    url = _reports(shop, "/kpis/rule.fired")
    span = {
        "start": (_noon(3) - timedelta(hours=1)).isoformat(),
        "end": (_noon(3) + timedelta(hours=1)).isoformat(),
    }

    everything = await _ok(client, url, shop.owner, **span)
    assert (everything["slug"], everything["unit"], everything["per"]) == (
        "rule.fired",
        "count",
        "rule",
    )
    assert everything["values"] == [{"key": a, "value": 3}, {"key": b, "value": 2}]
    only_b = await _ok(client, url, shop.owner, key=b, **span)
    assert only_b["values"] == [{"key": b, "value": 2}]
    both = await _ok(client, url, shop.owner, key=[a, b, "999999"], **span)
    assert both["values"] == everything["values"]
    nobody = await _ok(client, url, shop.owner, key="999999", **span)
    assert nobody["values"] == []
    r = await _get(client, url, shop.owner, key=a, format="csv", **span)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines() == ["rule,rule.fired", f"{a},3"]
    # Outside the range nothing fired: the rule's row says 0.
    later = {
        "start": (_noon(3) + timedelta(hours=2)).isoformat(),
        "end": (_noon(3) + timedelta(hours=3)).isoformat(),
    }
    assert (await _ok(client, url, shop.owner, key=a, **later))["values"] == [
        {"key": a, "value": 0}
    ]


async def test_rules_report_has_sequential_p_looks_and_variants(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    clock = rk.use_clock(app)
    day0 = _noon(5)
    clock.t = day0.timestamp()
    shop = await f.shop(app, client)
    rule = await rk.create(
        client,
        shop,
        name="Kori",
        condition={"==": [{"var": "page.type"}, "cart"]},
        holdout_share=0.5,
        variants=[
            {"key": "a", "messages": {"fi": "Hei! Autanko?", "en": "Hi! Can I help?"}},
            {"key": "b", "messages": {"fi": "Tarvitsetko apua?", "en": "Need a hand?"}},
        ],
    )
    for i in range(24):
        await rk.Visitor(client, shop, clock, visitor=f"v{i:02d}").page("/kori", "cart")
        clock.advance(5)
    rows = await rk.exposures(client, shop, rule["id"])
    assert len(rows) == 24
    arm = {x["visitor_id"]: (x["outcome"], x["variant"]) for x in rows}
    fired_a = sorted(v for v, o in arm.items() if o == ("fired", "a"))
    fired_b = sorted(v for v, o in arm.items() if o == ("fired", "b"))
    held = sorted(v for v, o in arm.items() if o == ("held_out", None))
    assert len(fired_a) + len(fired_b) + len(held) == 24
    assert min(len(fired_a), len(fired_b), len(held)) >= 1  # every arm has someone
    # A visitor of variant a and a held-out one buy the next day; one of variant b three days on.
    key = {"Authorization": f"Bearer {shop.api_key}"}
    orders = (
        ("o-a", fired_a[0], 5000, 1),
        ("o-h", held[0], 3000, 1),
        ("o-b", fired_b[0], 4000, 3),
    )
    for order_id, visitor, total, days in orders:
        r = await client.post(
            "/api/v1/orders",
            json={
                "order_id": order_id,
                "total": total,
                "currency": "EUR",
                "visitor_id": visitor,
                # Five minutes before the day's mark: inside a window of `days` of every exposure
                # (e <= t < e + window).
                "created_at": (day0 + timedelta(days=days, minutes=-5)).isoformat(),
            },
            headers=key,
        )
        assert r.status_code == 201, r.text
    await _fill(app, archive)
    rules = _reports(shop, "/rules")
    fired, n_held = len(fired_a) + len(fired_b), len(held)

    (report,) = await _ok(client, rules, shop.owner)  # the workspace's window: 7 days
    assert report["rule_id"] == rule["id"]
    exposed, holdout = report["exposed"], report["holdout"]
    assert (exposed["visitors"], exposed["converted"], exposed["orders"]) == (fired, 2, 2)
    assert (exposed["revenue"], exposed["aov"]) == (9000, 4500)
    assert (holdout["visitors"], holdout["converted"], holdout["revenue"]) == (n_held, 1, 3000)
    assert [
        (v["variant"], v["visitors"], v["converted"], v["revenue"]) for v in report["variants"]
    ] == [
        ("a", len(fired_a), 1, 5000),
        ("b", len(fired_b), 1, 4000),
    ]
    assert report["uplift"] == pytest.approx(2 / fired - 1 / n_held)
    # One look every day from the first exposure (day 0) to today (day 5); the counts move on
    # day 0 (the exposures), day 1 and day 3 (the orders), and stay between.
    assert report["looks"] == 6
    looks = [(0, fired, 0, n_held), (1, fired, 1, n_held), (1, fired, 1, n_held)]
    looks += [(2, fired, 1, n_held)] * 3
    assert report["p_sequential"] == pytest.approx(stats.always_valid(looks))
    assert 0 < report["p_sequential"] <= 1
    assert report["warnings"] == ["fewer than 100 visitors in an arm: not enough data yet"]

    # A one-day window drops the day-3 order.
    (short,) = await _ok(client, rules, shop.owner, window_days=1)
    assert (short["exposed"]["converted"], short["holdout"]["converted"]) == (1, 1)
    assert [v["converted"] for v in short["variants"]] == [1, 0]
    assert short["looks"] == 6  # every day still
    # So does the workspace's own window once it is set to one day.
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}", json={"attribution_days": 1}, headers=shop.owner.headers
    )
    assert r.status_code == 200, r.text
    (tight,) = await _ok(client, rules, shop.owner)
    assert (tight["exposed"]["converted"], tight["looks"]) == (1, 6)
    r = await _get(client, rules, shop.owner, window_days=0)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "query.window_days"

    # Only visitors first exposed in [start, end) count: none after the exposures' hour.
    after = await _ok(
        client,
        rules,
        shop.owner,
        start=(day0 + timedelta(hours=2)).isoformat(),
        end=(day0 + timedelta(days=2)).isoformat(),
    )
    assert after == []


# --- availability and access -------------------------------------------------------------


async def test_reports_answer_503_with_retry_after_while_no_archive_is_open(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    assert not app.state.archive.ready()  # no pass has published a snapshot (ADR 0015)
    for path in ("/funnel", "/rules", "/attribution", "/kpis/rule.fired"):
        r = await _get(client, _reports(shop, path), shop.owner)
        assert r.status_code == 503, (path, r.text)
        assert r.headers["retry-after"] == "30", path
        assert r.json()["detail"]["code"] == "unavailable", path
    # The list of KPIs needs no archive.
    listed = await _ok(client, _reports(shop, "/kpis"), shop.owner)
    assert "rule.fired" in {k["slug"] for k in listed}


async def test_other_workspaces_members_cannot_read_the_reports(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    shop = await f.shop(app, client, "Shop A")
    other = await f.shop(app, client, "Shop B")
    their_agent = await f.user(app, client, "bea@example.fi", workspace_id=other.id, role="agent")
    await _send(client, shop, "p1", "p1-1", _view(utcnow() - timedelta(hours=1)))
    await _fill(app, archive)
    paths = ("/funnel", "/rules", "/attribution", "/kpis", "/kpis/rule.fired")
    for who in (other.owner, their_agent):
        for path in paths:
            r = await _get(client, _reports(shop, path), who)
            assert r.status_code == 404, (who.email, path, r.text)
            assert r.json()["detail"]["field"] == "workspace_id"
    for path in paths:
        r = await client.get(_reports(shop, path))
        assert r.status_code == 401, (path, r.text)
    # Their own funnel does not see shop A's visitor.
    theirs = await _ok(client, _reports(other, "/funnel"), other.owner)
    assert [s["people"] for s in theirs["stages"]] == [0, 0, 0, 0, 0]
    mine = await _ok(client, _reports(shop, "/funnel"), shop.owner)
    assert [s["people"] for s in mine["stages"]] == [1, 0, 0, 0, 0]

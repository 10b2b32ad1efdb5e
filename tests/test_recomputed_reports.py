"""An independent recomputation of the reports (issue 12): a seeded history (tests/historykit.py:
customers on two devices meeting the rules in either order, a shared computer, server-only
orders, widget purchases the server confirms, a cancellation, a refund, orders on the window's
edge and a second after an exposure, chats) goes through the public API; the figures are
worked out in plain Python (tests/recompute.py) from the generator's own record by the definitions of
docs/analytics.md, each group naming the one it checks, and compared with what the API answers.
The decisions (each exposure's arm) are read from /rules/{id}/exposures, not from a report."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from tests import chatkit as ck
from tests import factory as f
from tests import figkit as fk
from tests import historykit as hk
from tests.recompute import ARM, People, attribution, experiment_figures, shop_figures

pytestmark = pytest.mark.asyncio


async def test_the_reports_agree_with_a_recomputation_figure_by_figure(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    day0 = fk.noon(14)
    w = await hk.build(app, client, day0, seed=20261205)  # any seed: the figures must agree
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    p = People(w)
    shop = w.shop
    base = f"/api/v1/workspaces/{shop.id}/reports"
    start, end = day0 - timedelta(hours=1), day0 + timedelta(days=13)
    lo, hi = start.timestamp(), end.timestamp()
    span = {"start": start.isoformat(), "end": end.isoformat()}

    async def get(path: str, **params: Any) -> Any:
        r = await client.get(f"{base}/{path}", params=params, headers=shop.owner.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def kpi(slug: str) -> dict[str, Any]:
        return {v["key"]: v["value"] for v in (await get(f"kpis/{slug}", **span))["values"]}

    live = [o for o in w.orders.values() if not o.cancelled and lo <= o.placed < hi]
    assert len(w.orders) - len(live) == 1  # the cancelled one; everything else in the range

    # The shop's figures and the funnel over the whole history, and over a range that starts
    # mid-history and ends exactly at an order (placed at the end: outside, [start, end)).
    cut = (day0 + timedelta(days=1)).timestamp(), w.orders["o-edge-out"].placed
    for a, b in ((lo, hi), cut):
        rng = {"start": f.at_iso(a), "end": f.at_iso(b)}
        want_shop, want_funnel = shop_figures(w, p, a, b)
        got_shop = {}
        for slug in want_shop:
            got = (await get(f"kpis/{slug}", **rng))["values"]
            got_shop[slug] = {v["key"]: v["value"] for v in got}
        assert got_shop == want_shop, (a, b)
        stages = (await get("funnel", **rng))["stages"]
        assert [s["people"] for s in stages] == want_funnel, (a, b)
        # One figure, two pages: the funnel's purchase stage is shop.conversion's people.
        share, people = got_shop["shop.conversion"]["shop"], got_shop["shop.visitors"]["shop"]
        assert stages[2]["people"] == round(share * people)
        assert stages[0]["people"] == people
    assert want_funnel[4] >= 1  # somebody went all the way in the cut range

    # --- The overview's days (docs/analytics.md Glossary): the same figures per local day of
    # the workspace's zone; "a day's visitors are the people who viewed a page that day".
    zone = ZoneInfo("Europe/Helsinki")
    day = lambda t: datetime.fromtimestamp(t, zone).date().isoformat()  # noqa: E731
    want_days: dict[str, list[Any]] = defaultdict(lambda: [set(), 0, 0, 0])
    for e in w.events:
        if e.type == "page_view":
            want_days[day(e.t)][0].add(p.of_device(e.visitor))
    for c in w.chats:
        want_days[day(c.t)][1] += 1
    for o in w.orders.values():
        if not o.cancelled:
            want_days[day(o.placed)][2] += 1
            want_days[day(o.placed)][3] += o.total - o.refunded
    client.cookies.set("kohtaamo_session", await ck.cookie(app, shop.owner.user_id))
    r = await client.get(
        f"/workspaces/{shop.id}/overview",
        params={"from": day(lo), "to": day(hi - 1), "format": "csv"},
    )
    assert r.status_code == 200, r.text
    header, *rows = csv.reader(io.StringIO(r.text.lstrip("\ufeff")))
    assert len(header) == 5, header  # day, visitors, conversations, orders, revenue (EUR)
    got_days = {row[0]: [float(x) for x in row[1:]] for row in rows}
    assert got_days == {d: [len(v[0]), v[1], v[2], v[3] / 100] for d, v in want_days.items()} | {
        d: [0.0] * 4 for d in got_days if d not in want_days
    }

    # --- Attribution (last touch), every order not cancelled.
    want = attribution(w, p)
    got = {a["order_id"]: a for a in await get("attribution")}
    assert got.keys() == want.keys()
    for oid, a in want.items():
        assert got[oid] == {k: v for k, v in a.items() if k != "placed"}, oid
    # The window's edge: e + 7 days - 1 s is inside, e + 7 days outside.
    assert want["o-edge-in"]["rule_id"] == w.rules["cart"]
    assert want["o-edge-out"]["rule_id"] is None
    assert want["o-quick"]["same_visit"] is True
    assert want["o-chat-1"]["conversation_id"]
    assert want["o-chat-2"]["conversation_id"]
    # The history has what it is for: persons who met a rule on two devices, an order from a
    # customer with no device, and a device linked to two customers.
    devices = defaultdict(set)
    for x in w.exposures:
        devices[p.of_exposure(x)].add(x.visitor)
    assert sum(1 for d in devices.values() if len(d) > 1) >= 2
    assert any(o.visitor is None and not o.cancelled for o in w.orders.values())
    assert p.device["shared-pc"] == "cust-B"
    assert p.device["late-login"] == "cust-L"  # linked by the order alone

    # --- Per-rule KPIs: "Lauennut / Fired", "Vertailuryhmässä / Held out" count decisions in
    # the range; "Tilaukset (viimeinen kosketus)" / "Myynti (viimeinen kosketus)" / "Keskiostos"
    # are the orders placed in the range credited to the rule with their person in its treated
    # arm (… samalla käynnillä: the same-visit ones); "Keskustelut" the rule's conversations.
    rules = sorted(w.rules.values())
    for slug, outcome in (("rule.fired", "fired"), ("rule.held_out", "held_out")):
        counts = {str(r): sum(1 for x in w.exposures if x.rule_id == r and x.outcome == outcome)
                  for r in rules}  # fmt: skip
        assert await kpi(slug) == counts, slug
    # rule.chats_opened: firings of rules whose action opens the chat (both rules' does);
    # rule.suppressed: suppressed exposures by rule and reason.
    fired_counts = {str(r): sum(1 for x in w.exposures if x.rule_id == r and x.outcome == "fired")
                    for r in rules}  # fmt: skip
    assert await kpi("rule.chats_opened") == fired_counts
    suppressed: dict[str, int] = defaultdict(int)
    for x in w.exposures:
        if x.outcome == "suppressed":
            suppressed[f"{x.rule_id}:{x.reason}"] += 1
    assert suppressed
    assert await kpi("rule.suppressed") == suppressed
    credited = {r: [a for a in want.values() if a["rule_id"] == r and a["outcome"] == "fired"
                    and lo <= a["placed"] < hi] for r in rules}  # fmt: skip
    assert await kpi("rule.conversions_window") == {str(r): len(c) for r, c in credited.items()}
    assert await kpi("rule.conversions_same_visit") == {
        str(r): sum(1 for a in c if a["same_visit"]) for r, c in credited.items()
    }
    assert await kpi("rule.revenue") == {
        str(r): sum(a["revenue"] for a in c) for r, c in credited.items()
    }
    assert await kpi("rule.aov") == {
        str(r): pytest.approx(sum(a["revenue"] for a in c) / len(c))
        for r, c in credited.items()
        if c
    }
    assert await kpi("rule.visitor_replied") == {
        str(r): sum(1 for c in w.chats if c.rule_id == r) for r in rules
    }

    # --- Rule experiments, over all time and over the persons first exposed in the cut range.
    for a, b in ((None, None), cut):
        params = {} if a is None else {"start": f.at_iso(a), "end": f.at_iso(b)}
        want_rules = experiment_figures(w, p, a or -math.inf, b or math.inf)
        got_rules = {e["rule_id"]: e for e in await get("rules", **params)}
        assert got_rules.keys() == want_rules.keys(), params
        for r, want_r in want_rules.items():
            got_r = got_rules[r]
            assert {k: got_r[k] for k in ("exposed", "holdout")} == {
                k: want_r[k] for k in ("exposed", "holdout")
            }, (r, params)
            variants = {v["variant"]: [v[k] for k in ARM] for v in got_r["variants"]}
            assert variants == want_r["variants"], (r, params)
            for k in ("uplift", "p_conversion", "incremental_revenue"):
                assert got_r[k] == want_r[k], (r, k, params)
            assert got_r["incremental_revenue_interval"] == want_r["interval"], (r, params)
        if a is not None:  # rule.uplift: the persons first exposed in the KPI's range
            got = (await get("kpis/rule.uplift", **params))["values"]
            assert {v["key"]: v["value"] for v in got} == {
                str(r): e["uplift"] for r, e in want_rules.items()
                if e["exposed"]["visitors"] and e["holdout"]["visitors"]
            }  # fmt: skip

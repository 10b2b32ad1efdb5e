"""One known history built only through the public API (visits, a rule's exposures in both arms
and a suppression, chats over real websockets in two teams with a forward, notes, ratings and
selling lines, orders on the same and on later visits and devices, a refund, a cancellation, a
widget purchase duplicating a server order), then every KPI in the registry, the attribution
rows and the rule's experiment checked against values computed by hand from that history."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import attribution, experiments, fill, metrics
from kohtaamo.analytics.archive import Archive
from tests import chatkit as ck
from tests import factory as f
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio
DAY = 86400.0


def api(shop: f.Shop, path: str) -> str:
    return f"/api/v1/workspaces/{shop.id}{path}"


def secs(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p90(xs: list[float]) -> float:
    # Linear interpolation between closest ranks (R's type 7, numpy's default).
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


async def get(client: httpx.AsyncClient, url: str, staff: f.Staff, **params: Any) -> Any:
    r = await client.get(url, params=params, headers=staff.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def send(
    client: httpx.AsyncClient, method: str, url: str, staff: f.Staff, body: Any = None
) -> Any:
    r = await client.request(method, url, json=body, headers=staff.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def rate(sock: ck.Socket, value: str) -> None:
    """The visitor rates their closed conversation; returns once the server has it."""
    await sock.send({"type": "rate", "value": value})
    while (await sock.expect("conversation"))["conversation"]["rating"] != value:
        pass


async def test_every_kpi_attribution_and_uplift_match_a_known_history(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    shop = await f.shop(app, client)
    owner = shop.owner
    aino = await f.user(app, client, "aino@kauppa.fi", workspace_id=shop.id)
    olli = await f.user(app, client, "olli@kauppa.fi", workspace_id=shop.id)
    sales = (await send(client, "POST", api(shop, "/teams"), owner, {"name": "Myynti"}))["id"]
    support = (await send(client, "POST", api(shop, "/teams"), owner, {"name": "Tuki"}))["id"]
    for staff, team in ((aino, sales), (olli, support)):
        await send(client, "PATCH", api(shop, f"/agents/{staff.user_id}"), owner, {"team_id": team})

    # --- Day D-3, 10:00 UTC (the tracking clock): visits and the rule's decisions.
    clock = rk.use_clock(app)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    clock.t = today.timestamp() - 3 * DAY + 10 * 3600
    rule = await rk.create(
        client,
        shop,
        name="Kori",
        condition={"==": [{"var": "page.type"}, "cart"]},
        holdout_share=0.5,
        cap_days=1,
    )
    rid = rule["id"]
    # Visitors reach the cart until both arms have the roles below (the arm is random). Visit
    # ids are the visitor's own (visits are unique per visitor and id; docs/tracking.md uses
    # "s-1"), so every visitor's first visit here is "a" and a return visit "b".
    answers: dict[str, dict[str, Any]] = {}
    fired: list[str] = []
    held: list[str] = []
    while len(answers) < 8 or len(fired) < 4 or len(held) < 2:
        assert len(answers) < 60, "the arms never filled"
        v = rk.Visitor(client, shop, clock, visitor=f"v{len(answers):02d}", visit="a")
        answers[v.visitor] = await v.page("/kori", "cart")
        (fired if rk.fired(answers[v.visitor]) == [rid] else held).append(v.visitor)
        clock.advance(1)
    exposures = await rk.exposures(client, shop, rid)
    assert sorted((x["visitor_id"], x["outcome"]) for x in exposures) == sorted(
        [(x, "fired") for x in fired] + [(x, "held_out") for x in held]
    )
    exposure = {x["visitor_id"]: x["id"] for x in exposures}
    nf, nh = len(fired), len(held)
    # Roles: f0 answers the rule's chat and buys in the same visit; f1 is asiakas-1's laptop
    # (who buys from the phone); f2's order is cancelled; f3 and h0 buy on a later visit; h1
    # comes back to the cart the same day and is suppressed (cap_days).
    f0, f1, f2, f3 = fired[:4]
    h0, h1 = held[:2]
    action = answers[f0]["actions"][0]
    assert action["exposure_id"] == exposure[f0]

    def visitor(name: str, visit: str = "a") -> rk.Visitor:
        return rk.Visitor(client, shop, clock, visitor=name, visit=visit)

    clock.advance(3600)
    await visitor(f1).send("identify", {"customer_id": "asiakas-1"})
    await visitor(h1, "b").page("/kori", "cart")  # again within cap_days: suppressed
    await visitor(h1, "b").page("/kori", "cart")  # the same suppression, recorded once
    await visitor(h0, "b").page("/", "landing")
    await visitor(f3, "b").page("/", "landing")
    for name in ("puhelin-1", "p", "q", "n"):  # asiakas-1's phone, two chatters, a buyer
        await visitor(name).page("/", "landing")
    suppressed = [x for x in await rk.exposures(client, shop, rid) if x["outcome"] == "suppressed"]
    assert [(x["visitor_id"], x["reason"]) for x in suppressed] == [(h1, "cap_days")]

    # --- Now (real time): four chats, Aino in sales, Olli in support.
    aino_cookie = await ck.cookie(app, aino.user_id)
    olli_cookie = await ck.cookie(app, olli.user_id)
    async with ck.serve(app) as host:
        a_sock = await ck.agent(host, aino_cookie)
        o_sock = await ck.agent(host, olli_cookie)
        for sock in (a_sock, o_sock):
            await sock.expect("ready")

        async def status(staff: f.Staff, value: str) -> None:
            url = api(shop, f"/agents/{staff.user_id}")
            await send(client, "PATCH", url, owner, {"status": value})

        async def open_chat(name: str, body: str, **extra: Any) -> tuple[ck.Socket, int]:
            sock = await ck.visitor(host, shop, name, "a")
            await sock.expect("ready")
            cid: int = (await sock.say(body, **extra))["conversation_id"]
            return sock, cid

        async def resolve(staff: f.Staff, cid: int) -> None:
            await send(client, "POST", api(shop, f"/conversations/{cid}/resolve"), staff)

        # C1: the rule's message answered by f0 (seq 1 bot, 2 visitor), Aino's.
        await status(olli, "away")
        v1, c1 = await open_chat(f0, "Onko tätä punaisena?", exposure_id=action["exposure_id"])
        await a_sock.say("Haluatko tilata sen nyt?", conversation_id=c1)  # 3: asks (fi)
        await v1.say("Ehkä, mitä muuta tarvitsen?")  # 4
        await a_sock.say("Kysy kuoresta.", conversation_id=c1, note=True)  # 5: a note
        await a_sock.say("Suosittelen myös suojakuorta kameralle.", conversation_id=c1)  # 6
        await resolve(aino, c1)  # 7: the closing line
        await rate(v1, "up")

        # C2: p asks Olli, who forwards to Aino; rated down.
        await status(olli, "online")
        await status(aino, "away")
        v2, c2 = await open_chat("p", "Hi, is the camera in stock?")  # 1
        await o_sock.say("Yes, it is in stock.", conversation_id=c2)  # 2: neither
        forward = {"to_user_id": aino.user_id}
        await send(client, "POST", api(shop, f"/conversations/{c2}/forward"), olli, forward)  # 3
        await v2.say("Great, what else do I need?")  # 4
        await a_sock.say("You might also like our tripod.", conversation_id=c2)  # 5: upsell
        await resolve(aino, c2)  # 6
        await rate(v2, "down")

        # C3: asiakas-1's phone (not identified) with Olli; not rated.
        v3, c3 = await open_chat("puhelin-1", "Is shipping free?")  # 1
        await o_sock.say("Shipping is included in the price.", conversation_id=c3)  # 2
        await v3.say("Nice, thanks.")  # 3
        await o_sock.say("Would you like to order it now?", conversation_id=c3)  # 4: asks (en)
        await resolve(olli, c3)  # 5

        # C4: q with Olli, whose note would ask for the sale if notes counted; rated up.
        v4, c4 = await open_chat("q", "Missä pakettini on?")  # 1
        note = "Tarjoa: voit tilata sen nyt ilman toimituskuluja."
        await o_sock.say(note, conversation_id=c4, note=True)  # 2
        await o_sock.say("Tarkistan paketin tilan.", conversation_id=c4)  # 3
        await resolve(olli, c4)  # 4
        await rate(v4, "up")
        for sock in (v1, v2, v3, v4, a_sock, o_sock):
            await sock.close()

    convs = {
        c: await get(client, api(shop, f"/conversations/{c}"), owner) for c in (c1, c2, c3, c4)
    }
    assignees = [aino.user_id, aino.user_id, olli.user_id, olli.user_id]
    assert [convs[c]["assignee_id"] for c in (c1, c2, c3, c4)] == assignees
    assert (convs[c1]["origin"], convs[c1]["rule_id"]) == ("rule", rid)
    at: dict[int, dict[int, float]] = {}  # conversation -> seq -> when the message was stored
    for c in convs:
        msgs = await get(client, api(shop, f"/conversations/{c}/messages"), owner)
        at[c] = {m["seq"]: secs(m["created_at"]) for m in msgs}

    def first(c: int) -> float:
        return secs(convs[c]["first_response_at"]) - secs(convs[c]["created_at"])

    def length(c: int) -> float:
        return secs(convs[c]["resolved_at"]) - secs(convs[c]["created_at"])

    def wait(c: int, asked: int, answered: int) -> float:
        return at[c][answered] - at[c][asked]

    # The note (c1 seq 5, c4 seq 2) neither answers nor is the first response.
    assert first(c1) == pytest.approx(wait(c1, 2, 3))
    assert first(c4) == pytest.approx(wait(c4, 1, 3))

    # --- Orders (now, after every chat), a refund, a cancellation, the widget's purchase.
    clock.t = time.time()  # after every chat: the widget sees o1 after C1
    key = {"Authorization": f"Bearer {shop.api_key}"}

    async def order(order_id: str, total: int, status: int = 201, **extra: Any) -> None:
        body = {"order_id": order_id, "total": total, "currency": "EUR", **extra}
        r = await client.post("/api/v1/orders", json=body, headers=key)
        assert r.status_code == status, r.text

    purchase = {"order_id": "o1", "value": 30000, "currency": "EUR"}
    await visitor(f0).send("purchase", purchase)  # the widget saw o1 ...
    # ... and the server reports it: the widget's order is confirmed (200), still one order.
    await order("o1", 30000, 200, visitor_id=f0)
    await order("o2", 4000, visitor_id=h0)
    await order("o3", 25000, visitor_id="puhelin-1", customer_id="asiakas-1")
    refund = {"refund_id": "r1", "amount": 5000}
    r = await client.post("/api/v1/orders/o3/refunds", json=refund, headers=key)
    assert r.status_code == 201, r.text
    await order("o4", 9999, visitor_id=f2)
    r = await client.post("/api/v1/orders/o4/cancel", headers=key)
    assert r.status_code == 200, r.text
    await order("o5", 12000, visitor_id=f3)
    await order("o6", 8000, visitor_id="p")
    await order("o7", 6000, visitor_id="n")

    archive = Archive(str(tmp_path / "a.duckdb"))
    try:
        await fill.fill(app.state.sessionmaker, archive, settle=0)

        # Attribution: last exposure and last chat within 7 days before each order.
        rows = attribution.attribute(archive, shop.id)
        assert sorted(a.order_id for a in rows) == ["o1", "o2", "o3", "o5", "o6", "o7"]  # o1 once
        got = {
            a.order_id: (
                a.exposure_id,
                a.rule_id,
                a.outcome,
                a.same_visit,
                a.conversation_id,
                a.revenue,
            )
            for a in rows
        }
        assert got == {
            "o1": (exposure[f0], rid, "fired", True, c1, 30000),  # same visit, after C1
            "o2": (exposure[h0], rid, "held_out", False, None, 4000),  # its visit b
            # The phone's order reaches the laptop's exposure through asiakas-1, and the phone's
            # chat: a later visit, though both devices call their visit "a".
            "o3": (exposure[f1], rid, "fired", False, c3, 25000 - 5000),
            "o5": (exposure[f3], rid, "fired", False, None, 12000),  # its visit b
            "o6": (None, None, None, False, c2, 8000),  # p chatted, never saw the rule
            "o7": (None, None, None, False, None, 6000),
        }  # o4 was cancelled

        # The experiment (intention to treat): conversions within 7 days of first exposure.
        (exp,) = experiments.experiments(archive, shop.id)
        assert exp.rule_id == rid
        assert (exp.exposed.visitors, exp.holdout.visitors) == (nf, nh)
        assert (exp.exposed.converted, exp.holdout.converted) == (3, 1)  # f0, f1, f3; h0
        assert (exp.exposed.orders, exp.holdout.orders) == (3, 1)
        assert (exp.exposed.revenue, exp.holdout.revenue) == (62000, 4000)  # o1+o3+o5; o2
        assert exp.exposed.aov == pytest.approx(62000 / 3)
        assert exp.exposed.rpv == pytest.approx(62000 / nf)
        assert exp.uplift == pytest.approx(3 / nf - 1 / nh)
        assert [(v.variant, v.visitors, v.converted) for v in exp.variants] == [(None, nf, 3)]
        assert 0.0 <= exp.p_sequential <= 1.0
        assert exp.looks == 4  # every day: D-3 (every first exposure) … today (every order)
        assert exp.warnings

        a, o = str(aino.user_id), str(olli.user_id)
        ts, tt = str(sales), str(support)
        # First responses count for the conversation's agent (c2 is Aino's since the forward).
        first_a, first_o = [first(c1), first(c2)], [first(c3), first(c4)]
        # Reply waits belong to who answered: Olli's first answer in c2 is his.
        waits_a = [wait(c1, 2, 3), wait(c1, 4, 6), wait(c2, 4, 5)]
        waits_o = [wait(c2, 1, 2), wait(c3, 1, 2), wait(c3, 3, 4), wait(c4, 1, 3)]
        ru = str(rid)
        people = nf + nh + 3  # the cart visitors (f1 and the phone are asiakas-1), p, q, n
        expected: dict[str, dict[str, float]] = {
            "agent.conversations": {a: 2, o: 2},  # c1, c2 (forwarded to Aino); c3, c4
            "agent.thumbs_up_share": {a: 1 / 2, o: 1 / 1},  # up, down; c3 unrated, up
            "agent.first_response_median": {a: median(first_a), o: median(first_o)},
            "agent.first_response_p90": {a: p90(first_a), o: p90(first_o)},
            "agent.reply_wait_median": {a: median(waits_a), o: median(waits_o)},
            "agent.reply_wait_p90": {a: p90(waits_a), o: p90(waits_o)},
            "team.first_response_median": {
                ts: median(first_a),
                tt: median(first_o),
                "all": median(first_a + first_o),
            },
            "team.first_response_p90": {
                ts: p90(first_a),
                tt: p90(first_o),
                "all": p90(first_a + first_o),
            },
            "team.reply_wait_median": {
                ts: median(waits_a),
                tt: median(waits_o),
                "all": median(waits_a + waits_o),
            },
            "team.reply_wait_p90": {
                ts: p90(waits_a),
                tt: p90(waits_o),
                "all": p90(waits_a + waits_o),
            },
            "agent.duration_median": {
                a: median([length(c1), length(c2)]),
                o: median([length(c3), length(c4)]),
            },
            # Notes never count: c1 6 (bot, 2 visitor, 2 Aino, close), c2 6 (2 visitor, Olli,
            # forward, Aino, close); c3 5 (2 visitor, 2 Olli, close), c4 3 (visitor, Olli, close).
            "agent.messages_per_conversation": {a: (6 + 6) / 2, o: (5 + 3) / 2},
            "agent.conversion": {a: 2 / 2, o: 1 / 2},  # c1 (o1), c2 (o6); c3 (o3), not c4
            "agent.asks_for_sale_share": {a: 1 / 2, o: 1 / 3},  # c1 of c1, c2; c3 of c2-c4
            "agent.upsell_share": {a: 2 / 2, o: 0 / 3},  # fi in c1, en in c2
            "agent.forwarded_share": {a: 0 / 2, o: 1 / 3},  # Olli had c2, c3, c4; forwarded c2
            "agent.basket": {a: (30000 + 8000) / 2, o: 20000},  # o1, o6; o3 less its refund
            "rule.fired": {ru: nf},
            "rule.held_out": {ru: nh},
            "rule.suppressed": {f"{ru}:cap_days": 1},  # h1's second visit, once
            "rule.chats_opened": {ru: nf},  # every firing opened the chat with its message
            "rule.visitor_replied": {ru: 1},  # c1
            "rule.csat": {ru: 1.0},  # c1 up
            "rule.conversions_same_visit": {ru: 1},  # o1
            "rule.conversions_window": {ru: 3},  # o1, o3, o5 (o2 was held out, o4 cancelled)
            "rule.revenue": {ru: 30000 + 20000 + 12000},
            "rule.aov": {ru: (30000 + 20000 + 12000) / 3},
            "rule.uplift": {ru: 3 / nf - 1 / nh},
            # Chatters f0, p, asiakas-1 (phone), q: three bought (o1, o6, o3); of the others
            # h0, f3 and n bought (o2, o5, o7).
            "shop.conversion_chatters_vs_not": {"chatters": 3 / 4, "others": 3 / (people - 4)},
            "shop.aov_chatters_vs_not": {
                "chatters": (30000 + 8000 + 20000) / 3,
                "others": (4000 + 12000 + 6000) / 3,
            },
            "shop.visitors": {"shop": people},
            "shop.conversion": {"shop": 6 / people},  # f0, h0, asiakas-1, f3, p, n
            "shop.orders": {"shop": 6},  # o1 (once), o2, o3, o5, o6, o7; o4 was cancelled
            "shop.revenue": {"shop": 30000 + 4000 + 20000 + 12000 + 8000 + 6000},
            "shop.conversations": {"shop": 4},
            "shop.csat": {"shop": 2 / 3},  # c1 up, c2 down, c4 up (c3 unrated)
        }
        assert set(expected) == set(metrics.REGISTRY), "every KPI needs a hand-computed check"
        now = datetime.now(UTC)
        start, end = now - timedelta(days=40), now + timedelta(days=1)
        wrong = {}  # every KPI that differs, reported together
        for slug, want in expected.items():
            computed = metrics.REGISTRY[slug].compute(archive, shop.id, start, end)
            values = {str(k): float(v) for k, v in computed}
            if values != pytest.approx(want, abs=1e-3):
                wrong[slug] = {"got": values, "expected": want}
        assert wrong == {}
        # Out of the range: the exposures (D-3) are not in the last two days; the rule's row
        # says 0.
        recent = metrics.REGISTRY["rule.fired"].compute(archive, shop.id, now - timedelta(2), end)
        assert recent == [(rid, 0)]

        # The same through the reports API.
        app.state.archive = archive
        span = {"start": start.isoformat(), "end": end.isoformat()}
        shown = ("agent.conversations", "agent.basket", "team.reply_wait_median", "rule.revenue")
        for slug in (*shown, "shop.conversion_chatters_vs_not"):
            body = await get(client, api(shop, f"/reports/kpis/{slug}"), owner, **span)
            values = {x["key"]: x["value"] for x in body["values"]}
            assert values == pytest.approx(expected[slug], abs=1e-3), slug
        (report,) = await get(client, api(shop, "/reports/rules"), owner, **span)
        assert report["rule_id"] == rid
        assert (report["exposed"]["visitors"], report["holdout"]["visitors"]) == (nf, nh)
        assert (report["exposed"]["revenue"], report["holdout"]["revenue"]) == (62000, 4000)
        assert report["uplift"] == pytest.approx(3 / nf - 1 / nh)
        assert 0.0 <= report["p_sequential"] <= 1.0
        assert report["looks"] == 4
    finally:
        app.state.archive = None
        archive.close()

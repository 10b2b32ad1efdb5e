"""Attribution and a rule's experiment over the archive, from a history built through the public
API (visits, the rule's live decisions in both arms, identify, orders on the same and on later
visits and devices, a refund, a cancellation), checked against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import attribution, experiments, fill, metrics
from kohtaamo.analytics.archive import Archive
from tests import factory as f
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio


async def test_attribution_and_experiment_match_hand_computed_values(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    clock = rk.use_clock(app)
    clock.advance(-20 * 86400)  # the whole history lies in the past, as a real one does
    shop = await f.shop(app, client)
    rule = await rk.create(
        client,
        shop,
        name="Cart",
        condition={"==": [{"var": "page.type"}, "cart"]},
        holdout_share=0.5,
    )
    # Twenty visitors reach the cart: the rule decides for each (fired or held out).
    visitors = [
        rk.Visitor(client, shop, clock, visitor=f"v{i:02d}", visit=f"v{i:02d}-a") for i in range(20)
    ]
    for v in visitors:
        await v.page("/kori", "cart")
        clock.advance(1)
    rows = await rk.exposures(client, shop, rule["id"])
    arm = {x["visitor_id"]: x["outcome"] for x in rows}
    fired = sorted(k for k, o in arm.items() if o == "fired")
    held = sorted(k for k, o in arm.items() if o == "held_out")
    assert len(fired) + len(held) == 20
    assert len(fired) >= 3
    assert held

    key = {"Authorization": f"Bearer {shop.api_key}"}

    async def order(order_id: str, total: int, **extra: object) -> None:
        r = await client.post(
            "/api/v1/orders",
            json={
                "order_id": order_id,
                "total": total,
                "currency": "EUR",
                "created_at": f.at_iso(clock.t),
                **extra,
            },
            headers=key,
        )
        assert r.status_code == 201, r.text

    clock.advance(60)
    # 1. A fired visitor buys in the same visit.
    await order("o1", 10000, visitor_id=fired[0])
    # 2. A held-out visitor buys the next day, on a new visit.
    clock.advance(86400)
    later = rk.Visitor(client, shop, clock, visitor=held[0], visit=f"{held[0]}-b")
    await later.page("/", "landing")
    await order("o2", 4000, visitor_id=held[0])
    # 3. A fired visitor identifies as a customer; the customer orders from another device.
    await visitors[int(fired[1][1:])].send("identify", {"customer_id": "asiakas-1"})
    await order("o3", 25000, customer_id="asiakas-1", visitor_id="phone-1")
    # 4. A refunded part and a cancelled order.
    r = await client.post(
        "/api/v1/orders/o3/refunds", json={"refund_id": "r1", "amount": 5000}, headers=key
    )
    assert r.status_code == 201
    await order("o4", 9999, visitor_id=fired[2])
    r = await client.post("/api/v1/orders/o4/cancel", headers=key)
    assert r.status_code == 200
    # 5. An order ten days later is outside the 7-day window.
    clock.advance(10 * 86400)
    await order("o5", 7000, visitor_id=fired[0])

    archive = Archive(str(tmp_path / "a.duckdb"))
    try:
        await fill.fill(app.state.sessionmaker, archive, settle=0)
        got = {a.order_id: a for a in attribution.attribute(archive, shop.id)}
        assert set(got) == {"o1", "o2", "o3", "o5"}  # the cancelled order is not an order
        assert (got["o1"].rule_id, got["o1"].outcome, got["o1"].same_visit) == (
            rule["id"],
            "fired",
            True,
        )
        assert (got["o2"].outcome, got["o2"].same_visit) == ("held_out", False)
        assert got["o3"].outcome == "fired"  # reached through the customer's other device
        assert got["o3"].revenue == 20000
        assert got["o5"].exposure_id is None  # ten days after: outside the window

        window = (f.datetime_of(clock.t - 30 * 86400), f.datetime_of(clock.t + 86400))
        by_rule = {
            slug: dict(metrics.REGISTRY[slug].compute(archive, shop.id, *window))
            for slug in ("rule.conversions_same_visit", "rule.conversions_window", "rule.revenue")
        }
        assert by_rule["rule.conversions_same_visit"] == {rule["id"]: 1}  # o1
        assert by_rule["rule.conversions_window"] == {rule["id"]: 2}  # o1, o3 (o2 was held out)
        assert by_rule["rule.revenue"] == {rule["id"]: 30000}

        (exp,) = experiments.experiments(archive, shop.id)
        assert exp.rule_id == rule["id"]
        assert (exp.exposed.visitors, exp.holdout.visitors) == (len(fired), len(held))
        # Converted within 7 days of the first exposure: fired[0] (o1), fired[1] (o3); held[0] (o2).
        assert (exp.exposed.converted, exp.holdout.converted) == (2, 1)
        assert (exp.exposed.revenue, exp.holdout.revenue) == (30000, 4000)
        assert exp.exposed.orders == 2
        assert exp.exposed.aov == 15000
        assert exp.uplift == pytest.approx(2 / len(fired) - 1 / len(held))
        assert exp.exposed.rpv == pytest.approx(30000 / len(fired))
        assert exp.warnings  # twenty visitors are not enough to judge
        assert 0 < exp.p_conversion <= 1
        low, high = exp.uplift_interval
        assert low < exp.uplift < high
    finally:
        archive.close()

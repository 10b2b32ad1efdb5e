"""KPIs from the registry over the archive, from chats and orders made through the product's own
services and API, against hand-computed values; and the reports API with its CSV export."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill, metrics
from kohtaamo.analytics.archive import Archive
from kohtaamo.auth.models import User
from kohtaamo.chat import lifecycle, routing
from kohtaamo.chat import service as chat
from kohtaamo.db.engine import transaction
from kohtaamo.kit.clock import utcnow
from kohtaamo.shops.directory import Site
from tests import factory as f

pytestmark = pytest.mark.asyncio


async def _chat(
    app: FastAPI,
    shop: f.Shop,
    user_id: int,
    visitor: str,
    *,
    answers: int,
    rating: str | None,
    forward_to: int | None = None,
) -> None:
    site = Site(shop.id, (), "Europe/Helsinki", "fi", "EUR")
    async with transaction(app.state.sessionmaker) as s:
        said = await chat.visitor_says(
            s,
            site=site,
            presence=app.state.presence,
            visitor_key=visitor,
            visit_key=f"{visitor}-1",
            body="Hei",
            client_id=f"{visitor}-c0",
        )
        await routing.assign(s, said.conv, user_id=user_id)
        user = await s.get(User, user_id)
        assert user is not None
        for i in range(answers):
            await chat.agent_says(
                s, conv=said.conv, user=user, body=f"Vastaus {i}", client_id=f"{visitor}-a{i}"
            )
        if forward_to is not None:
            await lifecycle.forward(
                s, said.conv, by=user, presence=app.state.presence, to_user_id=forward_to
            )
        await lifecycle.resolve(s, said.conv, user=user, presence=app.state.presence)
        if rating:
            await lifecycle.rate(s, said.conv, value=rating, comment=None)


async def test_agent_and_shop_kpis(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    shop = await f.shop(app, client)
    aino = await f.user(app, client, "aino@kauppa.fi", workspace_id=shop.id)
    olli = shop.owner
    await _chat(app, shop, aino.user_id, "va", answers=1, rating="up")
    await _chat(app, shop, aino.user_id, "vb", answers=3, rating="down")
    await _chat(app, shop, aino.user_id, "vc", answers=1, rating=None, forward_to=olli.user_id)
    await _chat(app, shop, olli.user_id, "vd", answers=2, rating="up")
    for v in ("va", "vb", "vc", "vd", "ve", "vf"):
        r = await f.track(
            client, f.batch(shop, [f.page("https://shop.example/")], visitor=v, visit=f"{v}-1")
        )
        assert r.status_code == 200
    key = {"Authorization": f"Bearer {shop.api_key}"}
    for order_id, visitor in (("o1", "va"), ("o2", "ve")):
        r = await client.post(
            "/api/v1/orders",
            json={"order_id": order_id, "total": 5000, "currency": "EUR", "visitor_id": visitor},
            headers=key,
        )
        assert r.status_code == 201

    archive = Archive(str(tmp_path / "a.duckdb"))
    try:
        await fill.fill(app.state.sessionmaker, archive, settle=0)
        start, end = utcnow() - timedelta(days=1), utcnow() + timedelta(days=1)

        def values(slug: str) -> dict[str, float]:
            rows = metrics.REGISTRY[slug].compute(archive, shop.id, start, end)
            return {str(k): float(v) for k, v in rows}

        a, o = str(aino.user_id), str(olli.user_id)
        assert values("agent.conversations") == {a: 2, o: 2}  # vc went to Olli
        assert values("agent.thumbs_up_share") == {a: 0.5, o: 1.0}
        # Messages that count: the visitor's, the agents', the forward and closing lines.
        assert values("agent.messages_per_conversation") == {a: (3 + 5) / 2, o: (4 + 4) / 2}
        assert values("agent.conversion") == {a: 0.5, o: 0.0}
        assert values("agent.forwarded_share") == {a: pytest.approx(1 / 3), o: 0.0}
        first = values("agent.first_response_median")
        assert 0 <= first[a] < 60
        assert values("agent.basket") == {a: 5000.0}  # o1 followed va's chat with Aino
        assert values("shop.conversion_chatters_vs_not") == {
            "chatters": 0.25,  # va of va, vb, vc, vd
            "others": 0.5,  # ve of ve, vf
        }
        app.state.archive = archive
        r = await client.get(f"/api/v1/workspaces/{shop.id}/reports/kpis", headers=olli.headers)
        assert {k["slug"] for k in r.json()} >= {"agent.conversations", "rule.fired"}
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/reports/kpis/agent.conversations?format=csv",
            headers=olli.headers,
        )
        assert r.status_code == 200
        assert r.text.splitlines()[0] == "agent,agent.conversations"
        assert f"{a},2" in r.text.splitlines()
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/reports/kpis/nope", headers=olli.headers
        )
        assert r.status_code == 404
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/reports/kpis/agent.conversations?start=2026-01-02T00:00:00",
            headers=olli.headers,
        )
        assert r.status_code == 422
        assert r.json()["detail"]["field"] == "start"
    finally:
        app.state.archive = None
        archive.close()

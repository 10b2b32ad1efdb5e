"""The analytics archive fills from the primary database by high-water marks: everything once,
changed rows replaced, nothing before it has settled, and the fill state recorded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from kohtaamo.chat import service as chat
from kohtaamo.db.engine import transaction
from kohtaamo.shops.directory import Site
from tests import factory as f

pytestmark = pytest.mark.asyncio


async def test_fill_copies_each_row_once_and_follows_changes(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    shop = await f.shop(app, client)
    events = [f.page(f"https://shop.example/p/{i}", "product") for i in range(5)]
    r = await f.track(client, f.batch(shop, events, visitor="v-1", visit="s-1"))
    assert r.status_code == 200
    key = {"Authorization": f"Bearer {shop.api_key}"}
    r = await client.post(
        "/api/v1/orders",
        json={
            "order_id": "o-1",
            "total": 5000,
            "currency": "EUR",
            "visitor_id": "v-1",
            "lines": [{"product_id": "p1", "unit_price": 2500, "quantity": 2}],
        },
        headers=key,
    )
    assert r.status_code == 201
    async with transaction(app.state.sessionmaker) as s:
        await chat.visitor_says(
            s,
            site=Site(shop.id, (), "Europe/Helsinki", "fi", "EUR"),
            presence=app.state.presence,
            visitor_key="v-1",
            visit_key="s-1",
            body="Hei",
            client_id="client-0001",
        )

    archive = Archive(str(tmp_path / "analytics.duckdb"))
    try:
        # Nothing has settled yet: rows younger than the settle time wait for the next pass.
        early = await fill.fill(app.state.sessionmaker, archive, settle=3600)
        assert early["events"] == 0
        assert early["orders"] == 1  # changing rows are re-read with an overlap, not held back
        first = await fill.fill(app.state.sessionmaker, archive, settle=0)
        assert first["events"] == 5
        assert archive.query("SELECT count(*) FROM conversations") == [(1,)]
        again = await fill.fill(app.state.sessionmaker, archive, settle=0)
        assert again["events"] == 0  # the high-water mark moved past them
        assert archive.query("SELECT count(*) FROM events") == [(5,)]
        assert archive.query("SELECT count(*), sum(total) FROM orders") == [(1, 5000)]
        assert archive.query("SELECT product_id, quantity FROM order_lines") == [("p1", 2)]
        props = archive.query("SELECT props->>'page_type' FROM events LIMIT 1")
        assert props == [("product",)]

        # A refund changes the order: the next pass replaces its row, not adds one.
        r = await client.post(
            "/api/v1/orders/o-1/refunds", json={"refund_id": "r1", "amount": 1000}, headers=key
        )
        assert r.status_code == 201
        await fill.fill(app.state.sessionmaker, archive, settle=0)
        assert archive.query("SELECT count(*), sum(refunded), max(status) FROM orders") == [
            (1, 1000, "partially_refunded")
        ]
        states = archive.states()
        assert int(states["events"].high_water or 0) > 0
        assert states["events"].rows == 5
        assert states["orders"].filled_at is not None
    finally:
        archive.close()

    # A new process opening the same file continues from the recorded marks.
    reopened = Archive(str(tmp_path / "analytics.duckdb"))
    try:
        more = [f.page("https://shop.example/kori", "cart")]
        r = await f.track(client, f.batch(shop, more, visitor="v-1", visit="s-1"))
        assert r.status_code == 200
        counts = await fill.fill(app.state.sessionmaker, reopened, settle=0)
        assert counts["events"] == 1
        assert reopened.query("SELECT count(*) FROM events") == [(6,)]
    finally:
        reopened.close()

"""The analytics archive fills from the primary database by high-water marks: everything once,
changed rows replaced, nothing before it has settled, and the fill state recorded."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill, filler, snapshots
from kohtaamo.analytics.archive import Archive, Snapshots
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


async def test_passes_publish_snapshots_that_readers_follow(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """ADR 0015: one filler at a time (the lock), a snapshot per pass that brought something,
    readers on the newest one, generations before the previous one removed."""
    shop = await f.shop(app, client)
    path = str(tmp_path / "analytics.duckdb")
    plan = filler.Plan(path, every=0, settle=0, snapshot_every=0)
    maker = app.state.sessionmaker
    reader = Snapshots(path)
    assert not reader.ready()  # nothing published yet: reports answer 503

    async def send(n: int, visitor: str) -> None:
        events = [f.page(f"https://shop.example/p/{i}", "product") for i in range(n)]
        r = await f.track(client, f.batch(shop, events, visitor=visitor, visit=f"s-{visitor}"))
        assert r.status_code == 200

    await send(3, "v-1")
    first = await filler.maybe_pass(maker, plan)
    assert first is not None
    assert (first.counts["events"], first.published) == (3, 1)
    assert reader.query("SELECT count(*) FROM events") == [(3,)]
    assert reader.generation == 1

    # Another filler (thread or process) finds the lock taken and skips its round.
    held = snapshots.FillLock(path)
    assert held.try_acquire()
    try:
        assert await filler.maybe_pass(maker, plan) is None
    finally:
        held.release()

    # Nothing new: no snapshot is copied.
    idle = await filler.maybe_pass(maker, plan)
    assert idle is not None
    assert (sum(idle.counts.values()), idle.published) == (0, None)
    assert snapshots.current(path) == 1

    for generation, visitor in ((2, "v-2"), (3, "v-3")):
        await send(2, visitor)
        done = await filler.maybe_pass(maker, plan)
        assert done is not None
        assert done.published == generation
    assert reader.query("SELECT count(*) FROM events") == [(7,)]
    assert reader.generation == 3
    kept = sorted(n for n in os.listdir(tmp_path) if re.fullmatch(r"analytics\.\d+\.duckdb", n))
    assert kept == ["analytics.2.duckdb", "analytics.3.duckdb"]
    with pytest.raises(RuntimeError):
        reader.append("events", [], source="events", high_water="0")

    # Passes across processes are at most one per `every` seconds.
    slow = filler.Plan(path, every=3600, settle=0, snapshot_every=0)
    assert await filler.maybe_pass(maker, slow) is None
    reader.close()


async def test_rows_held_back_by_the_snapshot_interval_are_published_later(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    shop = await f.shop(app, client)
    path = str(tmp_path / "analytics.duckdb")
    maker = app.state.sessionmaker
    first = await filler.maybe_pass(maker, filler.Plan(path, every=0, settle=0))
    assert first is not None
    assert first.published == 1
    r = await f.track(client, f.batch(shop, [f.page("https://shop.example/")]))
    assert r.status_code == 200
    # A snapshot was just published: the new row waits in the live file, marked pending.
    late = filler.Plan(path, every=0, settle=0, snapshot_every=3600)
    done = await filler.maybe_pass(maker, late)
    assert done is not None
    assert (done.counts["events"], done.published) == (1, None)
    # A pass that brings nothing still publishes it once due (here: forced, as `--once` does).
    lock = snapshots.FillLock(path)
    assert lock.try_acquire()
    try:
        forced = await filler.run_pass(maker, late, lock, force=True)
    finally:
        lock.release()
    assert (forced.counts["events"], forced.published) == (0, 2)
    reader = Snapshots(path)
    try:
        assert reader.query("SELECT count(*) FROM events") == [(1,)]
    finally:
        reader.close()

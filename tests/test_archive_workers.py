"""Reports on every worker (ADR 0015): real `kohtaamo serve` processes on PostgreSQL + Redis share
one analytics archive; one fills it at a time, every worker reads its settled snapshot, and
`kohtaamo archive --once` runs a pass beside them. Figures are counted from the test's own data."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from kohtaamo.auth import service as auth
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
from tests import factory as f
from tests import services
from tests.browser import free_port

START = 60.0  # seconds for a server to answer /readyz
FILLED = 90.0  # seconds for a figure to reach the reports (passes every second, settle 2 s)
PASSWORD = "salasana-0123456789"


@pytest.fixture
async def redis_url() -> str:
    services.require_redis()
    client = Redis.from_url(services.REDIS_URL)
    await client.flushdb()
    await client.aclose()
    return services.REDIS_URL


@pytest.fixture
def pg_url(pg_database: str) -> str:
    return pg_database


def _env(database_url: str, redis_url: str | None, analytics: Path, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KOHTAAMO_REDIS_URL"}
    if redis_url:
        env["KOHTAAMO_REDIS_URL"] = redis_url
    env.update(
        KOHTAAMO_DATABASE_URL=database_url,
        KOHTAAMO_PUBLIC_BASE_URL=base,
        KOHTAAMO_SECRET_KEY="archive-workers-secret-key-0123456789abcdef",
        KOHTAAMO_ANALYTICS_PATH=str(analytics),
        KOHTAAMO_ANALYTICS_FILL_SECONDS="1",
        KOHTAAMO_ANALYTICS_SETTLE_SECONDS="2",
    )
    env.pop("KOHTAAMO_ANALYTICS_IN_SERVER", None)  # the documented default
    return env


def _exe() -> str:
    return shutil.which("kohtaamo", path=str(Path(sys.executable).parent)) or "kohtaamo"


@asynccontextmanager
async def serving(
    database_url: str, redis_url: str | None, analytics: Path, logs: Path, *args: str
) -> AsyncIterator[str]:
    """`kohtaamo serve ARGS` as an operator starts it; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = logs / f"serve-{port}.log"
    with log.open("wb") as out:  # a file, not a pipe: an unread pipe blocks the server
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once; the loop polls it below
            [_exe(), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=_env(database_url, redis_url, analytics, base),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if proc.poll() is not None or loop.time() > deadline:
                    raise RuntimeError(f"server did not start:\n{log.read_text()[-5000:]}")
                await asyncio.sleep(0.1)
        yield base
    except BaseException:
        sys.stderr.write(f"--- serve {args} log ---\n{log.read_text(errors='replace')[-5000:]}\n")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def _owner(database_url: str, base: str) -> f.Staff:
    """A user made by the product's service, logged in through the API."""
    engine = make_engine(database_url, pool_size=1)
    email = f"omistaja-{uuid.uuid4().hex[:8]}@kauppa.fi"
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            user = await auth.create_user(s, email=email, name="Olli Omistaja", password=PASSWORD)
            uid = user.id
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return f.Staff(uid, email, r.json()["access_token"])


async def _shop(database_url: str, base: str) -> f.Shop:
    owner = await _owner(database_url, base)
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post(
            "/api/v1/workspaces",
            json={"name": "Kauppa", "allowed_origins": [f.ORIGIN]},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
        ws = r.json()
        r = await c.post(
            f"/api/v1/workspaces/{ws['id']}/api-keys",
            json={"name": "server"},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
        return f.Shop(ws["id"], ws["site_key"], r.json()["secret"], owner)


# The test's own history: who viewed, who put something in the cart, which orders, what refund.
VISITS = {
    "v-1": ["page_view", "cart_add"],
    "v-2": ["page_view"],
    "v-3": ["page_view", "cart_add"],
}
ORDERS = {"o-1": ("v-1", 5000), "o-2": ("v-3", 2500)}
REFUND = ("o-1", 1000)


async def _history(shop: f.Shop, bases: list[str]) -> None:
    """Events and orders sent to the workers in turn, as a load balancer spreads them."""
    for i, (visitor, types) in enumerate(VISITS.items()):
        events = [
            f.page("https://shop.example/p/1", "product", ts=f.now_ms(-30))
            if t == "page_view"
            else f.event(
                t, {"product_id": "p1", "unit_price": 2500, "quantity": 1}, ts=f.now_ms(-20)
            )
            for t in types
        ]
        async with httpx.AsyncClient(base_url=bases[i % len(bases)], timeout=10) as c:
            r = await f.track(c, f.batch(shop, events, visitor=visitor, visit=f"s-{visitor}"))
            assert r.status_code == 200, r.text
    key = {"Authorization": f"Bearer {shop.api_key}"}
    for i, (order_id, (visitor, total)) in enumerate(ORDERS.items()):
        async with httpx.AsyncClient(base_url=bases[(i + 1) % len(bases)], timeout=10) as c:
            r = await c.post(
                "/api/v1/orders",
                json={
                    "order_id": order_id,
                    "total": total,
                    "currency": "EUR",
                    "visitor_id": visitor,
                    "lines": [{"product_id": "p1", "unit_price": total, "quantity": 1}],
                },
                headers=key,
            )
            assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=bases[0], timeout=10) as c:
        r = await c.post(
            f"/api/v1/orders/{REFUND[0]}/refunds",
            json={"refund_id": "r-1", "amount": REFUND[1]},
            headers=key,
        )
        assert r.status_code == 201, r.text


def _expected() -> dict[str, Any]:
    """By the documented definitions (docs/analytics.md), from the data above."""
    viewed = {v for v, types in VISITS.items() if "page_view" in types}
    ordered = {visitor for visitor, _ in ORDERS.values()}  # any source, none cancelled
    # Each stage needs the ones before it; an order is past the checkout (consideration).
    considered = {v for v in viewed if "cart_add" in VISITS[v] or v in ordered}
    bought = considered & ordered
    return {
        "shop.orders": len(ORDERS),
        "shop.revenue": sum(total for _, total in ORDERS.values()) - REFUND[1],
        "shop.visitors": len(viewed),
        # No event after an order in another visit, no rated chat: no retention, no advocacy.
        "funnel": [len(viewed), len(considered), len(bought), 0, 0],
    }


async def _report(base: str, shop: f.Shop) -> tuple[int, dict[str, Any]]:
    """(status, figures) of one worker: three KPIs and the funnel's stages."""
    out: dict[str, Any] = {}
    prefix = f"/api/v1/workspaces/{shop.id}/reports"
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        for slug in ("shop.orders", "shop.revenue", "shop.visitors"):
            r = await c.get(f"{prefix}/kpis/{slug}", headers=shop.owner.headers)
            if r.status_code != 200:
                return r.status_code, {"body": r.text}
            values = {v["key"]: v["value"] for v in r.json()["values"]}
            out[slug] = values.get("shop")
        r = await c.get(f"{prefix}/funnel", headers=shop.owner.headers)
        if r.status_code != 200:
            return r.status_code, {"body": r.text}
        out["funnel"] = [s["people"] for s in r.json()["stages"]]
    return 200, out


async def _eventually(base: str, shop: f.Shop, want: dict[str, Any]) -> dict[str, Any]:
    """Polls one worker's reports until they show `want` (bounded; fails with what it saw)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FILLED
    while True:
        status, got = await _report(base, shop)
        if status == 200 and got == want:
            return got
        assert loop.time() < deadline, f"{base}: {status} {got}, want {want}"
        await asyncio.sleep(0.25)


async def _once(database_url: str, analytics: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [_exe(), "archive", "--once"],
        env=_env(database_url, None, analytics, "http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_archive_once_runs_a_pass_while_serve_runs(database_url: str, tmp_path: Path) -> None:
    """The embedded server fills the archive itself; `kohtaamo archive --once` beside it takes its
    turn (it failed on DuckDB's file lock before), and the server's reports show what it copied."""
    analytics = tmp_path / "var" / "analytics.duckdb"
    async with serving(database_url, None, analytics, tmp_path) as base:
        shop = await _shop(database_url, base)
        await _history(shop, [base])
        for _ in range(3):  # passes of the server's filler run meanwhile, every second
            once = await _once(database_url, analytics)
            assert once.returncode == 0, once.stdout + once.stderr
            assert "orders=" in once.stdout, once.stdout
        await _eventually(base, shop, _expected())


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_serve_processes_both_answer_reports_with_the_same_figures(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    analytics = tmp_path / "var" / "analytics.duckdb"
    async with (
        serving(pg_url, redis_url, analytics, tmp_path) as a,
        serving(pg_url, redis_url, analytics, tmp_path) as b,
    ):
        shop = await _shop(pg_url, a)
        await _history(shop, [a, b])
        want = _expected()
        assert await _eventually(a, shop, want) == await _eventually(b, shop, want)

        # One more order; `kohtaamo archive --once` runs a pass beside the servers' own filler.
        async with httpx.AsyncClient(base_url=b, timeout=10) as c:
            r = await c.post(
                "/api/v1/orders",
                json={"order_id": "o-3", "total": 1200, "currency": "EUR"},
                headers={"Authorization": f"Bearer {shop.api_key}"},
            )
            assert r.status_code == 201, r.text
        once = await _once(pg_url, analytics)
        assert once.returncode == 0, once.stdout + once.stderr
        assert "orders=" in once.stdout, once.stdout
        want = {**want, "shop.orders": 3, "shop.revenue": want["shop.revenue"] + 1200}
        assert await _eventually(a, shop, want) == await _eventually(b, shop, want)


@pytest.mark.postgres
@pytest.mark.redis
async def test_serve_with_two_workers_answers_reports_on_every_request(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The README's production command: each request lands on either worker; all answer."""
    analytics = tmp_path / "var" / "analytics.duckdb"
    async with serving(pg_url, redis_url, analytics, tmp_path, "--workers", "2") as base:
        shop = await _shop(pg_url, base)
        await _history(shop, [base])
        want = _expected()
        await _eventually(base, shop, want)
        for _ in range(12):  # a new connection each time: the workers take turns accepting
            assert await _report(base, shop) == (200, want)

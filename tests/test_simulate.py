"""The simulator plays history through the product's own API and chat code, on a moved clock, and
leaves data that hangs together; the demo's live visitors answer a rule over a real websocket."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from kohtaamo import demo
from kohtaamo.analytics import experiments, fill, pages
from kohtaamo.analytics.archive import Archive
from kohtaamo.app import create_app
from kohtaamo.auth.models import User
from kohtaamo.chat import service as chat
from kohtaamo.chat.models import Conversation, Message
from kohtaamo.commerce.models import Order
from kohtaamo.config import Settings
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
from kohtaamo.kit import clock
from kohtaamo.realtime.presence import AgentState
from kohtaamo.rules.models import Exposure, Rule
from kohtaamo.shops.models import ApiKey
from kohtaamo.simulate.history import DEMO_REPLY, DEMO_VISITORS, history
from kohtaamo.simulate.live import Trickle
from kohtaamo.tracking.models import TrackedEvent
from tests import chatkit as ck
from tests import factory as f
from tests import rulekit as rk
from tests.conftest import make_settings

pytestmark = pytest.mark.asyncio
DAY = 86400.0


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_history_goes_through_the_product_and_hangs_together(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    shop = await f.shop(app, client)
    agent = await f.user(app, client, "aino@kauppa.fi", workspace_id=shop.id)
    rules = await rk.install(client, shop, holdout=0.5)
    end = time.time() - 3600
    summary = await history(
        create_app,
        settings,
        workspace_id=shop.id,
        visitors=200,
        days=5,
        seed=11,
        reply=0.4,  # a short history with many chats
        styles={"aino@kauppa.fi": "closer"},
        end=end,
    )
    # The real clock is back.
    assert abs(clock.now_seconds() - time.time()) < 5
    start = end - 5 * DAY
    lo, hi = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end + 1, UTC)
    async with app.state.sessionmaker() as s:
        events = (
            await s.execute(
                select(TrackedEvent.ts, TrackedEvent.received_at, TrackedEvent.type, TrackedEvent.props)
                .where(TrackedEvent.workspace_id == shop.id)
            )
        ).all()  # fmt: skip
        outcomes = set(
            (await s.execute(select(Exposure.outcome).where(Exposure.workspace_id == shop.id)))
            .scalars()
            .all()
        )
        orders = (
            (await s.execute(select(Order).where(Order.workspace_id == shop.id))).scalars().all()
        )
        convs = (
            (await s.execute(select(Conversation).where(Conversation.workspace_id == shop.id)))
            .scalars()
            .all()
        )
        agent_lines = await s.scalar(
            select(func.count()).select_from(Message).where(
                Message.workspace_id == shop.id, Message.author == "agent"
            )
        )  # fmt: skip
        keys = (
            (await s.execute(select(ApiKey).where(ApiKey.workspace_id == shop.id))).scalars().all()
        )

    # Everything happened on the moved clock, inside the simulated days.
    assert events
    assert all(lo <= _utc(ts) <= hi and lo <= _utc(got) <= hi for ts, got, _, _ in events)
    assert {"page_view", "cart_add", "purchase"} <= {t for _, _, t, _ in events}
    # Both arms of the rules' experiments.
    assert outcomes >= {"fired", "held_out"}
    assert len(rules) == 17
    # Each order was seen by the widget and reported by the server under the same id: one order.
    assert len(orders) == summary.orders > 0
    purchases = {p["order_id"] for _, _, t, p in events if t == "purchase"}
    assert {o.order_key for o in orders} == purchases
    assert all(o.confirmed and o.source == "api" for o in orders)
    assert all(lo <= _utc(o.placed_at) <= hi for o in orders)
    # Chats: opened, answered by the workspace's agents, closed.
    assert len(convs) == summary.chats > 0
    assert {c.assignee_id for c in convs if c.assignee_id} <= {agent.user_id, shop.owner.user_id}
    assert agent_lines
    assert agent_lines >= 2 * len([c for c in convs if c.assignee_id])
    assert all(c.status == "resolved" for c in convs if c.assignee_id)
    assert all(lo <= _utc(c.created_at) <= hi for c in convs)
    # The simulator's own API key is revoked when it is done.
    simulator = [k for k in keys if k.name == "Simulator"]
    assert len(simulator) == 1
    assert simulator[0].revoked_at is not None


async def _conversation(app: FastAPI, shop_id: int, visitor_prefix: str) -> Conversation | None:
    async with app.state.sessionmaker() as s:
        found: Conversation | None = (
            await s.execute(
                select(Conversation)
                .where(
                    Conversation.workspace_id == shop_id,
                    Conversation.visitor_key.like(f"{visitor_prefix}%"),
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return found


async def test_a_live_demo_visitor_answers_the_rule_over_the_socket(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.rules.presence_ttl = 0.0  # the rules see presence changes at once
    async with ck.serve(app) as host:
        base = f"http://{host}"
        shop = await f.shop(app, client, origins=[base])
        rule = await rk.create(
            client, shop, name="Tervetuloa", condition={"==": [{"var": "page.type"}, "landing"]}
        )
        await app.state.presence.set_agent(shop.id, AgentState(shop.owner.user_id, "online", 3, 0))
        trickle = Trickle(base, shop.site_key, seed=3, think=(0.0, 0.0), stay=30)
        try:
            async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as http:
                await trickle.visitor(http)
                conv = None
                for _ in range(100):
                    conv = await _conversation(app, shop.id, "v-live-")
                    if conv is not None and conv.messages_count >= 2:
                        break
                    await asyncio.sleep(0.1)
                assert conv is not None
                # The rule's message, then the visitor's answer; routed to the agent online.
                assert (conv.rule_id, conv.origin, conv.assignee_id) == (
                    rule["id"],
                    "rule",
                    shop.owner.user_id,
                )
                assert conv.lead_email is None
                # The agent answers in the console; the visitor thanks them.
                async with app.state.sessionmaker() as s:
                    user = await s.get(User, shop.owner.user_id)
                    live = await s.get(Conversation, conv.id)
                    assert user is not None
                    assert live is not None
                    await chat.agent_says(s, conv=live, user=user, body="Hei!", client_id="a-1")
                    await s.commit()
                await app.state.bus.deliver(s)
                for _ in range(100):
                    async with app.state.sessionmaker() as s:
                        last = await s.scalar(
                            select(Message.body)
                            .where(Message.conversation_id == conv.id)
                            .order_by(Message.seq.desc())
                            .limit(1)
                        )
                    if last != "Hei!":
                        break
                    await asyncio.sleep(0.1)
                assert last in {"Kiitos avusta!", "Thanks for the help!"}
                # Nobody online: the visitor leaves a message with an email (a lead).
                await app.state.presence.drop_agent(shop.id, shop.owner.user_id)
                first = conv.id
                await trickle.visitor(http)
                for _ in range(100):
                    conv = await _conversation(app, shop.id, "v-live-")
                    if conv is not None and conv.id != first and conv.messages_count >= 2:
                        break
                    await asyncio.sleep(0.1)
                assert conv is not None
                assert conv.id != first
                assert conv.lead_email is not None
                assert conv.lead_email.endswith("@example.com")
        finally:
            await trickle.close()


def _persons(
    links: list[tuple[str, str]],
) -> Callable[[str], str]:
    """Person of a visitor id: ids joined by a customer id they share (a customer's devices)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for visitor_key, customer_id in links:
        parent[find(f"v:{visitor_key}")] = find(f"c:{customer_id}")
    return lambda visitor_key: find(f"v:{visitor_key}")


async def test_the_demo_month_shows_a_winner_and_a_loser_at_a_realistic_conversion(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """`kohtaamo demo`'s month, with its parameters (the demo workspace, 3000 visitors over 30
    days, seed 1, the demo's agents) on a fixed clock: the rules report judges at least one rule
    a winner and one a loser, and the shop converts 2-5 % of the people who came."""
    db = tmp_path / "demo.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    settings = make_settings(url, analytics_path=str(tmp_path / "archive.duckdb"))
    engine = make_engine(url, pool_size=1)
    maker = make_sessionmaker(engine)
    try:
        async with transaction(maker) as s:
            info = await demo.seed(s, settings)
        end = datetime(2026, 11, 30, 18, tzinfo=UTC).timestamp()
        await history(
            create_app,
            settings,
            workspace_id=info.workspace_id,
            visitors=DEMO_VISITORS,
            days=30,
            seed=1,
            styles=demo.STYLES,
            reply=DEMO_REPLY,
            end=end,
        )
        archive = Archive(settings.analytics_path)
        try:
            await fill.fill(maker, archive, settle=0)
            found = experiments.experiments(archive, info.workspace_id)
        finally:
            archive.close()
        async with maker() as s:
            slugs = dict((await s.execute(select(Rule.id, Rule.template))).all())
            viewers = (
                await s.execute(
                    select(TrackedEvent.visitor_key)
                    .where(TrackedEvent.type == "page_view")
                    .distinct()
                )
            ).scalars().all()  # fmt: skip
            identified = (
                await s.execute(
                    select(TrackedEvent.visitor_key, TrackedEvent.props).where(
                        TrackedEvent.type == "identify"
                    )
                )
            ).all()
            orders = (await s.execute(select(Order.visitor_key, Order.customer_id))).all()
    finally:
        await engine.dispose()

    verdicts = {slugs[e.rule_id]: pages._verdict(e)[0] for e in found}
    print(verdicts)
    assert "win" in verdicts.values(), verdicts
    assert "lose" in verdicts.values(), verdicts
    # The rules whose effects the simulated shop builds in (simulate/shop.py) are the ones judged.
    assert verdicts["cart-idle"] == "win"
    assert verdicts["default"] == "lose"

    # Conversion: people who viewed a page, and how many of them ordered.
    links = [(v, str(p["customer_id"])) for v, p in identified]
    links += [(v, c) for v, c in orders if v and c]
    person = _persons(links)
    came = {person(v) for v in viewers}
    bought = {person(v) for v, _ in orders if v} | {
        person(v) for v, c in links if c in {c for _, c in orders if c}
    }
    conversion = len(bought & came) / len(came)
    print(f"{len(came)} people, {len(bought & came)} bought: {conversion:.2%}")
    assert 0.02 <= conversion <= 0.05

"""Conversations nobody closed are closed after the workspace's idle limit (docs/chat.md; ADR 0012).

Without it a conversation left open (an agent forgot, a lead's visitor left) kept every opening
rule quiet (`chat_open`) for that visitor on every later visit, and the experiments lost them from
both arms for good. The clock is moved with `kit.clock.travel`, as the simulator moves it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.app import create_app
from kohtaamo.config import Settings
from kohtaamo.kit import clock as kclock
from tests import chatkit as ck
from tests import factory as f
from tests import rulekit as rk
from tests.test_chat_trust import CART, CODE
from tests.test_pages import _csrf, _log_in

pytestmark = pytest.mark.asyncio
HOUR = 3600.0


def closed_line(hours: int) -> str:
    """The line a closing by the sweep stores, in the workspace's language (Finnish here)."""
    return f"Keskustelu suljettiin automaattisesti, kun siinä ei ollut viestejä {hours} tuntiin."


@asynccontextmanager
async def worker(settings: Settings, sweep_every: float) -> AsyncIterator[FastAPI]:
    """Another server process's app on the same database, sweeping every `sweep_every` s."""
    other = create_app(settings.model_copy(update={"chat_idle_sweep_seconds": sweep_every}))
    async with other.router.lifespan_context(other):
        yield other


async def messages(client: httpx.AsyncClient, shop: f.Shop, cid: int) -> list[dict[str, Any]]:
    r = await client.get(
        f"/api/v1/workspaces/{shop.id}/conversations/{cid}/messages", headers=shop.owner.headers
    )
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def resolved(sock: ck.Socket, cid: int) -> dict[str, Any]:
    """The `conversation` frame saying `cid` is closed (earlier views of it are skipped)."""
    while True:
        frame = await sock.expect("conversation", wait=10)
        view = frame["conversation"]
        if view["id"] == cid and view["status"] == "resolved":
            return view


async def until(check: Callable[[], Any], wait: float = 15.0) -> None:
    deadline = time.monotonic() + wait
    while not await check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


async def test_a_rule_speaks_again_to_a_visitor_whose_conversation_was_left_open(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    clock = rk.use_clock(app)
    cart = await rk.create(client, shop, **CART)
    code = await rk.create(client, shop, **CODE)
    api = f"/api/v1/workspaces/{shop.id}/conversations"
    # The product's clock follows the test's (which starts an hour back), as the simulator's does.
    with kclock.travel(lambda: clock.t + HOUR):
        async with ck.serve(app) as host:
            agent = await ck.agent(host, await ck.cookie(app, shop.owner.user_id))
            await agent.expect("ready")
            v = rk.Visitor(client, shop, clock)
            answer = await v.page("/kori", "cart")
            assert rk.fired(answer) == [cart["id"]]
            sock = await ck.visitor(host, shop, v.visitor, v.visit)
            await sock.expect("ready")
            ack = await sock.say(
                "Onko tämä varastossa?", exposure_id=answer["actions"][0]["exposure_id"]
            )
            cid = ack["conversation_id"]
            await sock.close()
            clock.advance(60)
            assert (await v.page("/kassa", "checkout"))["actions"] == []  # talking: quiet

            # Nobody closes it and the visitor leaves. A day and an hour later they come back.
            clock.advance(25 * HOUR)
            again = v.new_visit()
            answer = await again.page("/kassa", "checkout")
            # A real decision (fired: the rule has no holdout), not `chat_open`, even though no
            # sweep has run: a conversation idle past the limit is over.
            assert rk.fired(answer) == [code["id"]]
            exps = await rk.exposures(client, shop, code["id"])
            assert sorted((e["outcome"], e["reason"] or "") for e in exps) == [
                ("fired", ""),
                ("suppressed", "chat_open"),
            ]

            # Their widget connects: the server closes the old conversation now (the widget
            # hears it is closed, not "open"), once, with one stored line, and the agent is told.
            sock = await ck.visitor(host, shop, v.visitor, again.visit)
            ready = await sock.expect("ready")
            assert (ready["conversation"]["id"], ready["conversation"]["status"]) == (
                cid,
                "resolved",
            )
            await resolved(agent, cid)
            system = [
                m["body"] for m in await messages(client, shop, cid) if m["author"] == "system"
            ]
            assert system == [closed_line(24)]

            # The reply to the rule's line opens a new conversation that starts with it.
            ack = await sock.say("Ei kelpaa", exposure_id=answer["actions"][0]["exposure_id"])
            assert ack["conversation_id"] != cid
            r = await client.get(
                f"{api}/{ack['conversation_id']}/messages", headers=shop.owner.headers
            )
            assert [(m["author"], m["body"]) for m in r.json()] == [
                ("bot", "Eikö koodi kelpaa? Kokeile KEVAT10."),
                ("visitor", "Ei kelpaa"),
            ]
            r = await client.get(f"{api}/{cid}", headers=shop.owner.headers)
            assert r.json()["status"] == "resolved"
            await sock.close()
            await agent.close()


async def test_the_sweep_closes_an_idle_conversation_tells_everyone_and_frees_the_slot(
    settings: Settings,
) -> None:
    shift = [0.0]
    with kclock.travel(lambda: time.time() + shift[0]):
        # A server whose periodic sweep runs every 0.1 s (the product's default is a minute).
        async with worker(settings, 0.1) as app, ck.serve(app) as host:
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                await _sweep_closes_and_frees(app, client, host, shift)


async def _sweep_closes_and_frees(
    app: FastAPI, client: httpx.AsyncClient, host: str, shift: list[float]
) -> None:
    shop = await f.shop(app, client)
    r = await client.put(
        f"/api/v1/workspaces/{shop.id}/widget",
        json={"chat_auto_resolve_hours": 2},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["chat_auto_resolve_hours"] == 2
    agent = await ck.agent(host, await ck.cookie(app, shop.owner.user_id))
    await agent.expect("ready")
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}/agents/{shop.owner.user_id}",
        json={"capacity": 1},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    a = await ck.visitor(host, shop, ck.new_visitor())
    b = await ck.visitor(host, shop, ck.new_visitor())
    await a.expect("ready")
    await b.expect("ready")
    first = (await a.say("Hei"))["conversation_id"]
    shift[0] = HOUR
    second = (await b.say("Toinen"))["conversation_id"]
    view = await b.expect("conversation")
    assert view["conversation"]["queue_position"] == 1  # the agent's one slot is taken

    # Two hours and a minute after a's last line (an hour and a minute after b's): the sweep
    # closes a's conversation only, and a, the agent and the queue hear it.
    shift[0] = 2 * HOUR + 60
    line = await a.expect("message", wait=10, author="system")
    assert (line["conversation_id"], line["body"]) == (first, closed_line(2))
    await resolved(a, first)
    told = await agent.expect("message", wait=5, author="system")
    assert (told["conversation_id"], told["body"]) == (first, closed_line(2))
    await resolved(agent, first)
    # The slot is free: b leaves the queue for the agent.
    moved = await b.expect("conversation", wait=5)
    while moved["conversation"]["status"] != "open":
        moved = await b.expect("conversation", wait=5)
    assert moved["conversation"]["queue_position"] is None

    await asyncio.sleep(0.5)  # more sweeps: nothing is closed twice
    bodies = [m["body"] for m in await messages(client, shop, first) if m["author"] == "system"]
    assert bodies == [closed_line(2)]
    r = await client.get(
        f"/api/v1/workspaces/{shop.id}/conversations/{second}", headers=shop.owner.headers
    )
    assert (r.json()["status"], r.json()["assignee_id"]) == ("open", shop.owner.user_id)
    r = await client.get(f"/api/v1/workspaces/{shop.id}/agents", headers=shop.owner.headers)
    (me,) = [x for x in r.json() if x["user_id"] == shop.owner.user_id]
    assert me["open"] == 1  # b's only
    # Presence (which the rules read for free slots) is recounted.
    await until(lambda: _active(app, shop.id, shop.owner.user_id, 1))
    for s in (a, b, agent):
        await s.close()


async def _active(app: FastAPI, workspace_id: int, user_id: int, n: int) -> bool:
    agents = await app.state.presence.agents(workspace_id)
    return any(x.user_id == user_id and x.active == n for x in agents)


async def test_two_workers_sweeping_at_once_close_each_conversation_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    shop = await f.shop(app, client)
    shift = [0.0]
    ids = []
    with kclock.travel(lambda: time.time() + shift[0]):
        async with ck.serve(app) as host:
            for i in range(6):  # nobody online: leads and waiting chats nobody ever closes
                sock = await ck.visitor(host, shop, ck.new_visitor())
                await sock.expect("ready")
                extra = {"email": f"k{i}@example.fi"} if i % 2 else {}
                ids.append((await sock.say(f"Hei {i}", **extra))["conversation_id"])
                await sock.close()
        async with worker(settings, 0.02), worker(settings, 0.02):
            shift[0] = 24 * HOUR + 60

            async def all_closed() -> bool:
                r = await client.get(
                    f"/api/v1/workspaces/{shop.id}/conversations?view=resolved",
                    headers=shop.owner.headers,
                )
                return len(r.json()["items"]) == len(ids)

            await until(all_closed)
            await asyncio.sleep(0.3)  # both keep sweeping
        for cid in ids:
            lines = [
                m["body"] for m in await messages(client, shop, cid) if m["author"] == "system"
            ]
            assert lines == [closed_line(24)], cid


async def test_the_idle_limit_is_validated_and_kept(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client, owner_email="owner@kauppa.fi")
    url = f"/api/v1/workspaces/{shop.id}/widget"
    r = await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)
    assert r.json()["chat_auto_resolve_hours"] == 24  # the default
    for bad in (0, 721, -5, "soon", 1.5):
        r = await client.put(url, json={"chat_auto_resolve_hours": bad}, headers=shop.owner.headers)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"]["field"] == "body.chat_auto_resolve_hours"
    r = await client.put(url, json={"chat_auto_resolve_hours": 72}, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    r = await client.put(url, json={"title": "Chat"}, headers=shop.owner.headers)  # left out: kept
    assert r.json()["chat_auto_resolve_hours"] == 72
    r = await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)
    assert r.json()["chat_auto_resolve_hours"] == 72

    # The chat settings page, in Finnish and in English.
    assert (await _log_in(client, "owner@kauppa.fi")).status_code == 303
    page_url = f"/workspaces/{shop.id}/chat-settings"
    said = {
        "fi": "Sulje hiljaiset keskustelut: anna tuntimäärä kokonaislukuna väliltä 1-720.",
        "en": "Close idle conversations after: give a whole number of hours from 1 to 720.",
    }
    for lang, message in said.items():
        client.cookies.set("kohtaamo_lang", lang)
        page = await client.get(page_url)
        assert (
            'name="chat_auto_resolve_hours" type="number" min="1" max="720" value="72"' in page.text
        )
        form = {"csrf_token": _csrf(page.text), "what": "widget", "color": "#000000"}
        bad = await client.post(page_url, data={**form, "chat_auto_resolve_hours": "0"})
        assert bad.status_code == 422
        assert message in bad.text
        assert (
            'name="chat_auto_resolve_hours" type="number" min="1" max="720" value="0"' in bad.text
        )
    ok = await client.post(page_url, data={**form, "chat_auto_resolve_hours": "12"})
    assert ok.status_code == 303, ok.text
    r = await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)
    assert r.json()["chat_auto_resolve_hours"] == 12

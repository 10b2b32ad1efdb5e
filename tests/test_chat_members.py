"""Issue 12: a membership ends on the open agent sockets at once, on every worker; the removed
agent's conversations go back to routing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from fastapi import FastAPI
from redis.asyncio import Redis

from tests import chatkit as ck
from tests import factory as f
from tests import services
from tests.test_redis_workers import workers

pytestmark = pytest.mark.asyncio
CHANGED = 4409  # docs/chat.md: the agent's memberships changed


async def closed(sock: ck.Socket, wait: float = 5.0) -> int | None:
    """The close code (None: closed without one), once the frames under way are read."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        try:
            await sock.recv(max(deadline - loop.time(), 0.01))
        except websockets.ConnectionClosed as exc:
            return int(exc.rcvd.code) if exc.rcvd is not None else None
        except TimeoutError:
            break
    raise AssertionError(f"the socket stayed open; saw {sock.seen[-5:]}")


def api(shop: f.Shop, path: str) -> str:
    return f"/api/v1/workspaces/{shop.id}{path}"


async def view(client: httpx.AsyncClient, shop: f.Shop, cid: int) -> tuple[str, int | None]:
    r = await client.get(api(shop, f"/conversations/{cid}"), headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    return r.json()["status"], r.json()["assignee_id"]


async def test_a_removed_agents_socket_closes_and_their_chat_goes_back_to_the_queue(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    bea = await f.user(app, client, "bea@example.fi", workspace_id=shop.id)
    async with ck.serve(app) as host:
        sock = await ck.agent(host, await ck.cookie(app, bea.user_id))
        assert (await sock.expect("ready"))["workspaces"] == [shop.id]
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        cid = (await visitor.say("Hei"))["conversation_id"]
        await sock.expect("notice", conversation_id=cid, user_id=bea.user_id)
        assert await view(client, shop, cid) == ("open", bea.user_id)

        r = await client.delete(api(shop, f"/members/{bea.user_id}"), headers=shop.owner.headers)
        assert r.status_code == 204, r.text
        assert await closed(sock) == CHANGED
        assert await view(client, shop, cid) == ("pending", None)  # queued: nobody else is online
        assert (await app.state.presence.snapshot(shop.id)).online == 0
        queued = (await visitor.expect("conversation"))["conversation"]
        while queued["assignee"] is not None:  # the frames of its opening come first
            queued = (await visitor.expect("conversation"))["conversation"]
        assert (queued["status"], queued["queue_position"]) == ("pending", 1)

        # A new chat is not hers; back on the console she hears nothing of the shop, and can
        # neither read nor answer the conversation she had.
        other = await ck.visitor(host, shop, ck.new_visitor())
        await other.expect("ready")
        new = (await other.say("Onko ketään?"))["conversation_id"]
        assert await view(client, shop, new) == ("pending", None)
        back = await ck.agent(host, await ck.cookie(app, bea.user_id))
        assert (await back.expect("ready"))["workspaces"] == []
        await back.send({"type": "sync", "conversation_id": cid, "after": 0})
        assert (await back.expect("error"))["field"] == "conversation_id"
        await back.send(
            {"type": "message", "conversation_id": cid, "client_id": "bea-0001", "body": "Minä"}
        )
        assert (await back.expect("error", client_id="bea-0001"))["field"] == "conversation_id"
        assert not [x for x in back.seen if x["type"] in ("message", "notice", "ack")]

        # The owner comes online and takes the queue, oldest first.
        owner = await ck.agent(host, await ck.cookie(app, shop.owner.user_id))
        await owner.expect("notice", conversation_id=cid, user_id=shop.owner.user_id)
        assert await view(client, shop, cid) == ("open", shop.owner.user_id)
        for s in (back, owner, visitor, other):
            await s.close()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    services.require_redis()
    client = Redis.from_url(services.REDIS_URL)
    await client.flushdb()
    await client.aclose()
    return services.REDIS_URL


@pytest.mark.redis
async def test_removal_reaches_the_agents_socket_on_another_worker(
    database_url: str, redis_url: str
) -> None:
    async with workers(database_url, redis_url) as [(app1, c1), (app2, _c2)]:
        shop = await f.shop(app1, c1)
        bea = await f.user(app1, c1, "bea@example.fi", workspace_id=shop.id)
        owner = await f.user(app1, c1, "omistaja2@example.fi", workspace_id=shop.id, role="admin")
        async with ck.serve(app1) as host1, ck.serve(app2) as host2:
            sock = await ck.agent(host2, await ck.cookie(app2, bea.user_id))
            await sock.expect("ready")
            visitor = await ck.visitor(host2, shop, ck.new_visitor())
            await visitor.expect("ready")
            cid = (await visitor.say("Hei"))["conversation_id"]
            await sock.expect("notice", conversation_id=cid, user_id=bea.user_id)
            colleague = await ck.agent(host1, await ck.cookie(app1, owner.user_id))
            await colleague.expect("ready")

            # Removed through worker 1; her socket lives on worker 2.
            r = await c1.delete(api(shop, f"/members/{bea.user_id}"), headers=shop.owner.headers)
            assert r.status_code == 204, r.text
            assert await closed(sock) == CHANGED
            # Her conversation goes to the colleague who is online (on worker 1).
            await colleague.expect("notice", conversation_id=cid, user_id=owner.user_id)
            assert await view(c1, shop, cid) == ("open", owner.user_id)
            for s in (visitor, colleague):
                await s.close()

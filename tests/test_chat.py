"""Live chat over real websockets on a real port: messages, acks, order, reconnection, routing."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests import chatkit as ck
from tests import factory as f

pytestmark = pytest.mark.asyncio


async def test_visitor_and_agent_talk_with_acks_and_sequence_numbers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        ready = await agent.expect("ready")
        assert ready["workspaces"] == [shop.id]
        vid = ck.new_visitor()
        visitor = await ck.visitor(host, shop, vid)
        hello = await visitor.expect("ready")
        assert hello["conversation"] is None
        assert hello["agents_online"] == 1

        ack = await visitor.say("Hei, onko tätä kokoa?")
        assert ack["seq"] == 1
        got = await agent.expect("message", conversation_id=ack["conversation_id"])
        assert got["body"] == "Hei, onko tätä kokoa?"
        assert got["author"] == "visitor"
        notice = await agent.expect("notice", conversation_id=ack["conversation_id"])
        assert notice["user_id"] == shop.owner.user_id

        reply = await agent.say("On, koko 42 löytyy.", conversation_id=ack["conversation_id"])
        assert reply["seq"] == 2
        heard = await visitor.expect("message", seq=2)
        assert heard["author"] == "agent"
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/conversations/{ack['conversation_id']}",
            headers=shop.owner.headers,
        )
        assert r.status_code == 200
        conv = r.json()
        assert conv["status"] == "open"
        assert conv["assignee_id"] == shop.owner.user_id
        assert conv["last_seq"] == 2
        assert conv["first_response_at"] is not None
        await visitor.close()
        await agent.close()


async def test_a_resent_message_is_stored_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        first = await visitor.say("Sama viesti", client_id="client-000001")
        again = await visitor.say("Sama viesti", client_id="client-000001")
        assert again["seq"] == first["seq"]
        assert again["id"] == first["id"]
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/conversations/{first['conversation_id']}/messages",
            headers=shop.owner.headers,
        )
        assert [m["body"] for m in r.json()] == ["Sama viesti"]


async def test_reconnecting_visitor_gets_exactly_what_it_missed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        vid = ck.new_visitor()
        visitor = await ck.visitor(host, shop, vid)
        await visitor.expect("ready")
        ack = await visitor.say("Tilaukseni on myöhässä")
        cid = ack["conversation_id"]
        first = await agent.say("Katson heti.", conversation_id=cid)
        await visitor.expect("message", seq=first["seq"])
        await visitor.close()  # the socket is cut

        sent = [await agent.say(f"Viesti {i}", conversation_id=cid) for i in (1, 2, 3)]
        await agent.say("Sisäinen: asiakas on VIP", conversation_id=cid, note=True)

        back = await ck.visitor(host, shop, vid)
        hello = await back.expect("ready")
        assert hello["conversation"]["id"] == cid
        await back.send({"type": "sync", "conversation_id": cid, "after": first["seq"]})
        synced = await back.expect("synced")
        replayed = [x for x in back.seen if x["type"] == "message"]
        assert [m["body"] for m in replayed] == ["Viesti 1", "Viesti 2", "Viesti 3"]
        assert [m["seq"] for m in replayed] == [s["seq"] for s in sent]
        assert synced["last_seq"] == sent[-1]["seq"] + 1  # the note took a number, unseen
        # Nothing else arrives afterwards: no duplicate, and the note never reaches the visitor.
        assert [x for x in await back.quiet() if x["type"] == "message"] == []
        await back.close()
        await agent.close()


async def test_notes_reach_agents_only(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        cid = (await visitor.say("Hei"))["conversation_id"]
        await agent.say("Muistiinpano", conversation_id=cid, note=True)
        note = await agent.expect("message", body="Muistiinpano")
        assert note["note"] is True
        await agent.say("Julkinen vastaus", conversation_id=cid)
        got = await visitor.expect("message", author="agent")
        assert got["body"] == "Julkinen vastaus"
        assert all(x.get("body") != "Muistiinpano" for x in visitor.seen)


async def test_queue_positions_and_assignment_when_a_slot_frees(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        r = await client.patch(
            f"/api/v1/workspaces/{shop.id}/agents/{shop.owner.user_id}",
            json={"capacity": 1},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["capacity"] == 1
        a = await ck.visitor(host, shop, ck.new_visitor())
        b = await ck.visitor(host, shop, ck.new_visitor())
        c = await ck.visitor(host, shop, ck.new_visitor())
        for v in (a, b, c):
            await v.expect("ready")
        first = await a.say("Ensimmäinen")
        await b.say("Toinen")
        view_b = await b.expect("conversation")
        assert view_b["conversation"]["queue_position"] == 1
        await c.say("Kolmas")
        view_c = await c.expect("conversation")
        assert view_c["conversation"]["queue_position"] == 2
        r = await client.post(
            f"/api/v1/workspaces/{shop.id}/conversations/{first['conversation_id']}/resolve",
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        # b takes the freed slot; c moves up to first in line.
        moved_b = await b.expect("conversation", wait=5)
        while moved_b["conversation"]["queue_position"] is not None:
            moved_b = await b.expect("conversation", wait=5)
        assert moved_b["conversation"]["status"] == "open"
        moved_c = await c.expect("conversation", wait=5)
        while moved_c["conversation"]["queue_position"] != 1:
            moved_c = await c.expect("conversation", wait=5)
        assert (await app.state.presence.snapshot(shop.id)).queue == 1


async def test_nobody_online_leaves_a_lead(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        ready = await visitor.expect("ready")
        assert ready["agents_online"] == 0
        ack = await visitor.say("Soittakaa minulle", email="asiakas@example.fi")
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/conversations?view=leads", headers=shop.owner.headers
        )
        items = r.json()["items"]
        assert [i["id"] for i in items] == [ack["conversation_id"]]
        assert items[0]["lead_email"] == "asiakas@example.fi"
        assert items[0]["status"] == "pending"
        assert items[0]["queued_at"] is None


async def test_bad_frames_get_errors_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        await visitor.send({"type": "message", "client_id": "c-12345678", "body": "x" * 4001})
        err = await visitor.expect("error")
        assert err["field"] == "body"
        assert err["client_id"] == "c-12345678"
        await visitor.send({"type": "nonsense"})
        err = await visitor.expect("error")
        assert err["code"] == "invalid"
        await visitor.conn.send("not json")
        err = await visitor.expect("error")
        assert err["field"] == "frame"
        await visitor.send(
            {"type": "message", "client_id": "c-1234567x", "body": "ok", "email": "nope"}
        )
        err = await visitor.expect("error")
        assert err["field"] == "email"
        # The socket still works after all that.
        assert (await visitor.say("Toimiiko?"))["seq"] == 1


async def test_message_flood_is_limited(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        for i in range(12):
            await visitor.send({"type": "message", "client_id": f"flood-{i:04d}", "body": f"{i}"})
        frames = []
        while len([x for x in frames if x["type"] in ("ack", "error")]) < 12:
            frames.append(await visitor.recv())
        errors = [x for x in frames if x["type"] == "error"]
        assert errors
        assert errors[0]["code"] == "rate_limited"
        assert errors[0]["retry_after"] >= 1


async def test_sockets_check_origin_site_and_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        bad = await ck.visitor(host, shop, ck.new_visitor(), origin="https://evil.example")
        assert await bad.closed_with() == 4403

        shop.site_key = "wrong"
        wrong = await ck.visitor(host, shop, ck.new_visitor())
        assert await wrong.closed_with() == 4401

        token = await ck.cookie(app, shop.owner.user_id)
        foreign = await ck.agent(host, token, origin="https://evil.example")
        assert await foreign.closed_with() == 4403

        anon = await ck.agent(host, "ses_nope")
        assert await anon.closed_with() == 4401


async def test_agents_only_reach_their_own_workspaces(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    mine = await f.shop(app, client, "Oma")
    theirs = await f.shop(app, client, "Toinen")
    token = await ck.cookie(app, mine.owner.user_id)
    async with ck.serve(app) as host:
        other_visitor = await ck.visitor(host, theirs, ck.new_visitor())
        await other_visitor.expect("ready")
        cid = (await other_visitor.say("Salainen"))["conversation_id"]
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        await agent.send({"type": "sync", "conversation_id": cid, "after": 0})
        err = await agent.expect("error")
        assert err["code"] == "not_found"
        await agent.send(
            {"type": "message", "conversation_id": cid, "client_id": uuid.uuid4().hex, "body": "x"}
        )
        err = await agent.expect("error")
        assert err["code"] == "not_found"
        assert all(x.get("body") != "Salainen" for x in agent.seen)
        r = await client.get(
            f"/api/v1/workspaces/{theirs.id}/conversations/{cid}", headers=mine.owner.headers
        )
        assert r.status_code == 404
        r = await client.get(
            f"/api/v1/workspaces/{mine.id}/conversations/{cid}", headers=mine.owner.headers
        )
        assert r.status_code == 404


async def test_close_and_rate(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        cid = (await visitor.say("Kiitos avusta"))["conversation_id"]
        await visitor.send({"type": "rate", "value": "up"})
        err = await visitor.expect("error")
        assert err["field"] == "conversation_id"  # not closed yet
        r = await client.post(
            f"/api/v1/workspaces/{shop.id}/conversations/{cid}/resolve", headers=shop.owner.headers
        )
        assert r.json()["status"] == "resolved"
        closed = await visitor.expect("conversation")
        while closed["conversation"]["status"] != "resolved":
            closed = await visitor.expect("conversation")
        await visitor.send({"type": "rate", "value": "up", "comment": "Nopeaa palvelua"})
        rated = await visitor.expect("conversation")
        while rated["conversation"]["rating"] is None:
            rated = await visitor.expect("conversation")
        assert rated["conversation"]["rating"] == "up"
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/conversations/{cid}", headers=shop.owner.headers
        )
        assert r.json()["rating_comment"] == "Nopeaa palvelua"
        # A new message after closing starts a new conversation (each has its own rating).
        again = await visitor.say("Vielä yksi kysymys")
        assert again["conversation_id"] != cid
        await asyncio.sleep(0)


async def test_typing_and_read_receipts_cross_both_ways(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        cid = (await visitor.say("Hei"))["conversation_id"]
        await agent.expect("notice", conversation_id=cid)
        await visitor.send({"type": "typing", "on": True})
        typing = await agent.expect("typing", conversation_id=cid)
        assert typing["author"] == "visitor"
        assert typing["on"] is True
        await agent.send({"type": "typing", "conversation_id": cid, "on": True})
        seen = await visitor.expect("typing")
        assert seen["author"] == "agent"
        assert seen["name"]
        reply = await agent.say("Moi!", conversation_id=cid)
        await visitor.send({"type": "read", "seq": reply["seq"]})
        read = await agent.expect("read", conversation_id=cid, by="visitor")
        assert read["seq"] == reply["seq"]
        await agent.send({"type": "read", "conversation_id": cid, "seq": 1})
        back = await visitor.expect("read")
        assert back["by"] == "agent"
        r = await client.get(
            f"/api/v1/workspaces/{shop.id}/conversations/{cid}", headers=shop.owner.headers
        )
        assert r.json()["visitor_read_seq"] == reply["seq"]

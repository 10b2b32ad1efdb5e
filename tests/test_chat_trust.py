"""Issue 12: what the visitor sees is exactly the visitor-visible lines, once each, in order."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests import chatkit as ck
from tests import factory as f
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio


class Follower:
    """A visitor client keeping the documented rules (docs/chat.md), as the widget does: it keeps
    the highest seq it holds, takes a message whose `prev` it holds, and syncs on a gap."""

    def __init__(self, sock: ck.Socket, last: int = 0, got: list[str] | None = None) -> None:
        self.sock = sock
        self.last = last
        self.got = got if got is not None else []  # the bodies shown, in order
        self.syncing = False
        self.cid: int | None = None

    async def sync(self) -> None:
        assert self.cid is not None
        self.syncing = True
        await self.sock.send({"type": "sync", "conversation_id": self.cid, "after": self.last})

    def take(self, frame: dict[str, Any]) -> bool:
        """The widget's rule for a numbered line: True when it is shown."""
        seq = frame["seq"]
        prev = frame.get("prev", seq - 1)  # without `prev`, a hole is seq > last + 1
        if seq <= self.last:
            return False
        if prev > self.last:
            return False
        self.last = seq
        return True

    async def run(self, seconds: float = 0.6) -> None:
        """Handle every frame until `seconds` pass without one and no sync is in flight."""
        while True:
            try:
                frame = await self.sock.recv(seconds)
            except TimeoutError:
                if not self.syncing:
                    return
                continue
            kind = frame["type"]
            if kind == "ready" and frame["conversation"]:
                self.cid = frame["conversation"]["id"]
                await self.sync()
            elif kind == "message":
                self.cid = frame["conversation_id"]
                if self.take(frame):
                    self.got.append(frame["body"])
                elif frame["seq"] > self.last and not self.syncing:
                    await self.sync()
            elif kind == "ack":
                self.cid = frame["conversation_id"]
                if not self.take(frame) and frame["seq"] > self.last and not self.syncing:
                    await self.sync()
            elif kind == "synced":
                self.syncing = False
                self.last = max(self.last, frame["last_seq"])


async def test_notes_between_replies_never_hide_a_reply_from_the_visitor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    token = await ck.cookie(app, shop.owner.user_id)
    async with ck.serve(app) as host:
        agent = await ck.agent(host, token)
        await agent.expect("ready")
        vid = ck.new_visitor()
        sock = await ck.visitor(host, shop, vid)
        me = Follower(sock)
        await me.run(0.2)
        await sock.send({"type": "message", "client_id": uuid.uuid4().hex, "body": "Hei"})
        await me.run()
        cid = me.cid
        assert cid is not None
        expected = []

        async def reply(body: str) -> None:
            await agent.say(body, conversation_id=cid)
            expected.append(body)

        async def note(body: str) -> None:
            await agent.say(body, conversation_id=cid, note=True)

        # Live: a note, then three replies; notes between replies; two notes in a row.
        await note("Sisäinen 1")
        for body in ("A", "B", "C"):
            await reply(body)
        await me.run()
        await note("Sisäinen 2")
        await reply("D")
        await note("Sisäinen 3")
        await note("Sisäinen 4")
        await reply("E")
        await me.run()
        assert me.got == ["Hei", *expected]

        # A cut socket: notes and replies while away, then a reconnect that syncs.
        await sock.close()
        await note("Poissa 1")
        await reply("F")
        await note("Poissa 2")
        sock = await ck.visitor(host, shop, vid)
        me = Follower(sock, me.last, me.got)
        await me.run()
        await reply("G")
        await me.run()
        assert me.got == ["Hei", *expected]

        # A reload: a fresh page with only what the widget stored (the highest seq it holds).
        await sock.close()
        await note("Ennen latausta")
        sock = await ck.visitor(host, shop, vid)
        me = Follower(sock, me.last, me.got)
        await me.run()
        await note("Latauksen jälkeen")
        await reply("H")
        await asyncio.sleep(0)
        await me.run()
        assert me.got == ["Hei", *expected]
        assert all(not b.startswith(("Sisäinen", "Poissa", "Ennen", "Latauksen")) for b in me.got)
        await sock.close()
        await agent.close()


CART = {
    "name": "Ostoskori",
    "priority": 10,
    "condition": {"==": [{"var": "page.type"}, "cart"]},
    "action": {
        "type": "open_chat",
        "messages": {"fi": "Voinko auttaa?"},
        "persona": {"name": "Aino"},
    },
}
CODE = {
    "name": "Koodi hylätty",
    "priority": 5,
    "condition": {"==": [{"var": "page.type"}, "checkout"]},
    "action": {"type": "open_chat", "messages": {"fi": "Eikö koodi kelpaa? Kokeile KEVAT10."}},
}


async def test_a_rule_stays_quiet_while_a_conversation_is_open_and_says_so_on_its_exposure(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    clock = rk.use_clock(app)
    cart = await rk.create(client, shop, **CART)
    code = await rk.create(client, shop, **CODE)
    api = f"/api/v1/workspaces/{shop.id}/conversations"
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

        # A second rule's moment comes while the conversation is open: it stays quiet, and its
        # exposure says why (before the arm is drawn, so both arms lose the moment alike).
        clock.advance(5)
        answer = await v.page("/kassa", "checkout")
        assert answer["actions"] == []
        (exp,) = await rk.exposures(client, shop, code["id"])
        assert (exp["outcome"], exp["reason"], exp["variant"]) == ("suppressed", "chat_open", None)
        r = await client.get(f"{api}/{cid}/messages", headers=shop.owner.headers)
        assert [(m["author"], m["body"]) for m in r.json()] == [
            ("bot", "Voinko auttaa?"),
            ("visitor", "Onko tämä varastossa?"),
        ]

        # Closed: the next visit's moment fires, and the visitor's reply stores the rule's line
        # first in a new conversation, which the agent sees and the export holds.
        r = await client.post(f"{api}/{cid}/resolve", headers=shop.owner.headers)
        assert r.status_code == 200, r.text
        again = v.new_visit()
        clock.advance(60)
        answer = await again.page("/kassa", "checkout")
        assert rk.fired(answer) == [code["id"]]
        ack = await sock.say("Ei kelpaa", exposure_id=answer["actions"][0]["exposure_id"])
        assert ack["conversation_id"] != cid
        r = await client.get(
            f"{api}/{ack['conversation_id']}/export?format=json", headers=shop.owner.headers
        )
        assert [(m["author"], m["body"]) for m in r.json()["messages"]] == [
            ("bot", "Eikö koodi kelpaa? Kokeile KEVAT10."),
            ("visitor", "Ei kelpaa"),
        ]
        seen = await agent.expect("message", conversation_id=ack["conversation_id"], seq=1)
        assert seen["body"] == "Eikö koodi kelpaa? Kokeile KEVAT10."
        await sock.close()
        await agent.close()

"""The chat's HTTP API around live conversations: forwarding, transcript search and the inbox's
views, export, canned replies, agents' settings and routing, the widget's config and assets, and
conversations opened by a rule's message. Real sockets on a real port; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from kohtaamo.chat.models import Forward
from kohtaamo.db.engine import transaction
from kohtaamo.rules.models import Exposure
from tests import chatkit as ck
from tests import factory as f
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio

WIDGET_DIR = Path(__file__).resolve().parents[1] / "src" / "kohtaamo" / "web" / "widget"
GZIP_BUDGET = 30 * 1024  # product requirement: widget.js gzipped at most 30 KB


# ------------------------------------------------------------------------------------- helpers


def api(shop: f.Shop, path: str) -> str:
    return f"/api/v1/workspaces/{shop.id}{path}"


async def online_agent(app: FastAPI, host: str, user_id: int) -> ck.Socket:
    """An agent console connected (and so "online" for routing)."""
    sock = await ck.agent(host, await ck.cookie(app, user_id))
    await sock.expect("ready")
    return sock


async def chat(
    host: str, shop: f.Shop, body: str, *, visitor_id: str | None = None, **extra: Any
) -> tuple[ck.Socket, dict[str, Any]]:
    """A new visitor opens a conversation with `body`; returns their socket and the ack."""
    sock = await ck.visitor(host, shop, visitor_id or ck.new_visitor())
    await sock.expect("ready")
    ack = await sock.say(body, **extra)
    return sock, ack


async def conversation(
    client: httpx.AsyncClient, shop: f.Shop, cid: int, staff: f.Staff | None = None
) -> dict[str, Any]:
    r = await client.get(api(shop, f"/conversations/{cid}"), headers=(staff or shop.owner).headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def messages(client: httpx.AsyncClient, shop: f.Shop, cid: int) -> list[dict[str, Any]]:
    r = await client.get(api(shop, f"/conversations/{cid}/messages"), headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def found(
    client: httpx.AsyncClient, shop: f.Shop, staff: f.Staff | None = None, **params: Any
) -> list[int]:
    r = await client.get(
        api(shop, "/conversations"), params=params, headers=(staff or shop.owner).headers
    )
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


async def forwards_of(app: FastAPI, cid: int) -> list[Forward]:
    """The recorded hand-overs (read only: there is no API listing them)."""
    async with transaction(app.state.sessionmaker) as s:
        rows = await s.execute(
            select(Forward).where(Forward.conversation_id == cid).order_by(Forward.id)
        )
        return list(rows.scalars())


async def until_view(sock: ck.Socket, **want: Any) -> dict[str, Any]:
    """The next `conversation` frame whose view has every field of `want`."""
    while True:
        frame = await sock.expect("conversation")
        view: dict[str, Any] = frame["conversation"]
        if all(view.get(k) == v for k, v in want.items()):
            return view


async def make_team(client: httpx.AsyncClient, shop: f.Shop, name: str) -> int:
    r = await client.post(api(shop, "/teams"), json={"name": name}, headers=shop.owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name
    team_id: int = r.json()["id"]
    return team_id


async def join_team(client: httpx.AsyncClient, shop: f.Shop, user_id: int, team_id: int) -> None:
    r = await client.patch(
        api(shop, f"/agents/{user_id}"), json={"team_id": team_id}, headers=shop.owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["team_id"] == team_id


# ---------------------------------------------------------------------------------- forwarding


async def test_forward_to_a_colleague_reassigns_records_and_shows_a_system_line(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    colleague = await f.user(app, client, "kollega@example.fi", workspace_id=shop.id)
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        visitor, ack = await chat(host, shop, "Laskussani on virhe")
        cid = ack["conversation_id"]
        assert (await conversation(client, shop, cid))["assignee_id"] == shop.owner.user_id

        r = await client.post(
            api(shop, f"/conversations/{cid}/forward"),
            json={"to_user_id": colleague.user_id, "note": "Laskutusasia"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee_id"] == colleague.user_id
        conv = await conversation(client, shop, cid)
        assert conv["assignee_id"] == colleague.user_id
        assert conv["status"] == "open"
        # The colleague can see it as theirs.
        assert await found(client, shop, colleague, view="mine") == [cid]
        assert await found(client, shop, view="mine") == []

        rows = await forwards_of(app, cid)
        assert [(x.from_user_id, x.to_user_id, x.to_team_id, x.note) for x in rows] == [
            (shop.owner.user_id, colleague.user_id, None, "Laskutusasia")
        ]
        msgs = await messages(client, shop, cid)
        assert [m["seq"] for m in msgs] == [1, 2]
        line = msgs[-1]
        assert line["author"] == "system"
        assert line["note"] is False
        assert "Kollega" in line["body"]
        # Agents hear who has it now; the visitor sees the system line.
        await agent.expect("notice", conversation_id=cid, user_id=colleague.user_id)
        heard = await visitor.expect("message", conversation_id=cid, seq=2)
        assert heard["author"] == "system"
        assert "Kollega" in heard["body"]
        await visitor.close()
        await agent.close()


async def test_forward_refusals_name_the_field_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    other = await f.shop(app, client, "Toinen kauppa")
    colleague = await f.user(app, client, "kollega@example.fi", workspace_id=shop.id)
    stranger = await f.user(app, client, "vieras@example.fi", workspace_id=other.id)
    loner = await f.user(app, client, "yksin@example.fi")  # a user of no workspace at all
    r = await client.post(
        api(other, "/teams"), json={"name": "Muiden tiimi"}, headers=other.owner.headers
    )
    assert r.status_code == 201, r.text
    foreign_team = r.json()["id"]
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        _visitor, ack = await chat(host, shop, "Auttakaa")
        cid = ack["conversation_id"]
        url = api(shop, f"/conversations/{cid}/forward")

        cases: list[tuple[dict[str, Any], str]] = [
            ({"to_user_id": shop.owner.user_id}, "to_user_id"),  # already theirs
            ({"to_user_id": stranger.user_id}, "to_user_id"),  # another workspace's member
            ({"to_user_id": loner.user_id}, "to_user_id"),
            ({"to_user_id": 999_999}, "to_user_id"),
            ({"to_user_id": colleague.user_id, "to_team_id": foreign_team}, "to_user_id"),
            ({}, "to_user_id"),
            ({"to_team_id": foreign_team}, "to_team_id"),
        ]
        for body, field in cases:
            r = await client.post(url, json=body, headers=shop.owner.headers)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["detail"]["field"] == field, (body, r.json())

        conv = await conversation(client, shop, cid)
        assert conv["assignee_id"] == shop.owner.user_id
        assert conv["last_seq"] == 1
        assert await forwards_of(app, cid) == []
        assert [m["author"] for m in await messages(client, shop, cid)] == ["visitor"]

        r = await client.post(
            api(shop, f"/conversations/{cid}/resolve"), headers=shop.owner.headers
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            url, json={"to_user_id": colleague.user_id}, headers=shop.owner.headers
        )
        assert r.status_code == 409, r.text
        assert r.json()["detail"]["field"] == "conversation_id"
        conv = await conversation(client, shop, cid)
        assert conv["status"] == "resolved"
        assert conv["assignee_id"] == shop.owner.user_id
        assert await forwards_of(app, cid) == []
        await agent.close()


async def test_forward_to_a_team_goes_to_its_online_member(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    billing = await f.user(app, client, "maija@example.fi", workspace_id=shop.id)
    team = await make_team(client, shop, "Laskutus")
    await join_team(client, shop, billing.user_id, team)
    async with ck.serve(app) as host:
        owner_sock = await online_agent(app, host, shop.owner.user_id)
        billing_sock = await online_agent(app, host, billing.user_id)
        visitor, ack = await chat(host, shop, "Hyvityslasku puuttuu")
        cid = ack["conversation_id"]
        # Both free and equally loaded: the first chat goes to the owner (lower id).
        assert (await conversation(client, shop, cid))["assignee_id"] == shop.owner.user_id

        r = await client.post(
            api(shop, f"/conversations/{cid}/forward"),
            json={"to_team_id": team},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        conv = await conversation(client, shop, cid)
        assert conv["assignee_id"] == billing.user_id
        assert conv["team_id"] == team
        assert conv["status"] == "open"
        rows = await forwards_of(app, cid)
        assert [(x.from_user_id, x.to_user_id, x.to_team_id) for x in rows] == [
            (shop.owner.user_id, None, team)
        ]
        line = (await messages(client, shop, cid))[-1]
        assert line["author"] == "system"
        assert "Laskutus" in line["body"]
        await billing_sock.expect("notice", conversation_id=cid, user_id=billing.user_id)
        view = await until_view(visitor, assignee={"name": "Maija"})
        assert view["status"] == "open"
        for sock in (visitor, owner_sock, billing_sock):
            await sock.close()


async def test_forward_to_a_team_with_nobody_free_queues_for_that_team(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The forwarder is online with free slots but not in the team: the chat must wait for the
    team (docs: "routed inside the team, else queued for it"), not come straight back."""
    shop = await f.shop(app, client)
    billing = await f.user(app, client, "maija@example.fi", workspace_id=shop.id)
    team = await make_team(client, shop, "Laskutus")
    await join_team(client, shop, billing.user_id, team)  # but billing is not connected
    async with ck.serve(app) as host:
        owner_sock = await online_agent(app, host, shop.owner.user_id)
        visitor, ack = await chat(host, shop, "Hyvityslasku puuttuu")
        cid = ack["conversation_id"]
        assert (await conversation(client, shop, cid))["assignee_id"] == shop.owner.user_id

        r = await client.post(
            api(shop, f"/conversations/{cid}/forward"),
            json={"to_team_id": team},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        conv = await conversation(client, shop, cid)
        assert (conv["status"], conv["assignee_id"], conv["team_id"]) == ("pending", None, team)
        assert conv["queued_at"] is not None
        assert await found(client, shop, view="queue") == [cid]
        assert len(await forwards_of(app, cid)) == 1
        await until_view(visitor, queue_position=1)

        # A member of the team comes online and takes it.
        billing_sock = await online_agent(app, host, billing.user_id)
        await billing_sock.expect("notice", conversation_id=cid, user_id=billing.user_id)
        conv = await conversation(client, shop, cid)
        assert (conv["status"], conv["assignee_id"]) == ("open", billing.user_id)
        for sock in (visitor, owner_sock, billing_sock):
            await sock.close()


# ------------------------------------------------------------------- search, views and paging


async def test_transcript_search_folds_finnish_letters_and_takes_wildcards_literally(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        ids: dict[str, int] = {}
        for key, body in [
            ("aanekoski", "Toimitus Äänekoski ÖLJY kanisteri"),
            ("price", "Hinta on 500 euroa"),
            ("discount", "Saako alennusta 50% kaikesta?"),
            ("underscore", "Koodi AB_CD ei toimi"),
            ("lookalike", "Koodi ABXCD ei toimi"),
        ]:
            sock, ack = await chat(host, shop, body)
            ids[key] = ack["conversation_id"]
            await sock.close()

    async def search(q: str) -> list[int]:
        return await found(client, shop, q=q)

    assert await search("äänekoski") == [ids["aanekoski"]]
    assert await search("ÄÄNEKOSKI") == [ids["aanekoski"]]
    assert await search("öljy") == [ids["aanekoski"]]
    assert await search("Öljy") == [ids["aanekoski"]]
    assert await search("50%") == [ids["discount"]]  # not "500"
    assert await search("500") == [ids["price"]]
    assert await search("b_c") == [ids["underscore"]]  # not "BXC"
    assert await search("%") == [ids["discount"]]
    assert await search("koodi") == [ids["lookalike"], ids["underscore"]]  # newest first
    assert await search("ei löydy mitään") == []
    r = await client.get(api(shop, "/conversations"), params={"q": ""}, headers=shop.owner.headers)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "query.q"


async def test_inbox_views_return_the_right_conversations(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    colleague = await f.user(app, client, "kollega@example.fi", workspace_id=shop.id)
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        _a, ack = await chat(host, shop, "Mine, open")
        mine = ack["conversation_id"]
        _d, ack = await chat(host, shop, "Closed soon")
        closed = ack["conversation_id"]
        r = await client.post(
            api(shop, f"/conversations/{closed}/resolve"), headers=shop.owner.headers
        )
        assert r.status_code == 200, r.text
        _e, ack = await chat(host, shop, "For the colleague")
        theirs = ack["conversation_id"]
        r = await client.post(
            api(shop, f"/conversations/{theirs}/forward"),
            json={"to_user_id": colleague.user_id},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        r = await client.patch(
            api(shop, f"/agents/{shop.owner.user_id}"),
            json={"status": "away"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        _q, ack = await chat(host, shop, "Waiting in line")
        queued = ack["conversation_id"]
        _lead, ack = await chat(host, shop, "Call me back", email="asiakas@example.fi")
        lead = ack["conversation_id"]

        expected: dict[str, list[int]] = {
            "all": [lead, queued, theirs, closed, mine],
            "mine": [mine],
            "unassigned": [lead, queued],
            "queue": [queued],
            "leads": [lead],
            "open": [theirs, mine],
            "pending": [lead, queued],
            "resolved": [closed],
        }
        for view, ids in expected.items():
            assert await found(client, shop, view=view) == ids, view
        assert await found(client, shop) == expected["all"]  # "all" is the default
        assert await found(client, shop, colleague, view="mine") == [theirs]
        # Views and search combine.
        assert await found(client, shop, view="pending", q="call me") == [lead]
        assert await found(client, shop, view="open", q="call me") == []
        r = await client.get(
            api(shop, "/conversations"), params={"view": "spam"}, headers=shop.owner.headers
        )
        assert r.status_code == 422
        assert r.json()["detail"]["field"] == "query.view"
        await agent.close()


async def test_conversation_list_pages_with_limit_and_next_before(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    created: list[int] = []
    async with ck.serve(app) as host:
        for i in range(5):
            sock, ack = await chat(host, shop, f"Kysymys numero {i}")
            created.append(ack["conversation_id"])
            await sock.close()
    newest_first = sorted(created, reverse=True)

    pages: list[list[int]] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if before is not None:
            params["before"] = before
        r = await client.get(api(shop, "/conversations"), params=params, headers=shop.owner.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append([c["id"] for c in page["items"]])
        before = page["next_before"]
        if before is None:
            break
        assert before == pages[-1][-1]
        assert len(pages) < 10
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]

    r = await client.get(
        api(shop, "/conversations"), params={"limit": 5}, headers=shop.owner.headers
    )
    assert [c["id"] for c in r.json()["items"]] == newest_first
    assert r.json()["next_before"] is None  # exactly one full page: no empty page after it
    r = await client.get(
        api(shop, "/conversations"), params={"limit": 4}, headers=shop.owner.headers
    )
    assert r.json()["next_before"] == newest_first[3]
    for bad in ({"limit": 0}, {"limit": 201}, {"before": 0}):
        r = await client.get(api(shop, "/conversations"), params=bad, headers=shop.owner.headers)
        assert r.status_code == 422, bad


# -------------------------------------------------------------------------------------- export


async def test_export_json_and_text_transcripts(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    vid = ck.new_visitor()
    r = await f.track(
        client,
        f.batch(shop, [f.page("https://shop.example/kori", "cart")], visitor=vid, visit="visit-1"),
    )
    assert r.status_code == 200, r.text
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        visitor, ack = await chat(host, shop, "Missä tilaukseni on?", visitor_id=vid)
        cid = ack["conversation_id"]
        await agent.say("Katson heti.", conversation_id=cid)
        await agent.say("VIP-asiakas, hoida nopeasti", conversation_id=cid, note=True)
        await visitor.say("Kiitos!")

        r = await client.get(
            api(shop, f"/conversations/{cid}/export"),
            params={"format": "json"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["content-disposition"] == f'attachment; filename="conversation-{cid}.json"'
        out = r.json()
        msgs = out["messages"]
        assert [m["seq"] for m in msgs] == [1, 2, 3, 4]
        assert [(m["author"], m["note"], m["body"]) for m in msgs] == [
            ("visitor", False, "Missä tilaukseni on?"),
            ("agent", False, "Katson heti."),
            ("agent", True, "VIP-asiakas, hoida nopeasti"),
            ("visitor", False, "Kiitos!"),
        ]
        conv = out["conversation"]
        assert conv["id"] == cid
        assert conv["origin"] == "visitor"
        assert conv["visitor_id"] == vid
        assert conv["status"] == "open"
        assert conv["context"]["page"]["type"] == "cart"
        assert conv["context"]["page"]["path"] == "/kori"
        # json is also the default
        r2 = await client.get(api(shop, f"/conversations/{cid}/export"), headers=shop.owner.headers)
        assert r2.json() == out

        r = await client.get(
            api(shop, f"/conversations/{cid}/export"),
            params={"format": "txt", "lang": "en"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        assert r.headers["content-disposition"] == f'attachment; filename="conversation-{cid}.txt"'
        lines = r.text.splitlines()
        assert lines[0].startswith(f"# Conversation {cid}")
        assert lines[1] == "# Time zone: Europe/Helsinki"  # the workspace's (test_chat_export.py)
        stamp = r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} EES?T\]"
        owner_name = shop.owner.email.split("@")[0].title()
        body_lines = lines[2:]
        assert len(body_lines) == 4
        assert re.fullmatch(stamp + r" Visitor: Missä tilaukseni on\?", body_lines[0])
        assert re.fullmatch(stamp + f" {re.escape(owner_name)}: Katson heti\\.", body_lines[1])
        assert re.fullmatch(
            stamp + f" {re.escape(owner_name)} \\(internal note\\): VIP-asiakas, hoida nopeasti",
            body_lines[2],
        )
        assert re.fullmatch(stamp + r" Visitor: Kiitos!", body_lines[3])

        r = await client.get(
            api(shop, f"/conversations/{cid}/export"),
            params={"format": "pdf"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 422
        assert r.json()["detail"]["field"] == "query.format"
        assert "format" in r.json()["detail"]["message"]
        await visitor.close()
        await agent.close()


async def test_export_is_for_members_of_the_conversations_workspace(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    other = await f.shop(app, client, "Toinen")
    async with ck.serve(app) as host:
        sock, ack = await chat(host, shop, "Yksityinen asia")
        await sock.close()
    cid = ack["conversation_id"]
    r = await client.get(api(shop, f"/conversations/{cid}/export"), headers=other.owner.headers)
    assert r.status_code == 404
    r = await client.get(api(other, f"/conversations/{cid}/export"), headers=other.owner.headers)
    assert r.status_code == 404
    assert "Yksityinen" not in r.text


# ------------------------------------------------------------------------------ canned replies


async def test_canned_replies_create_conflicts_patch_delete(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    url = api(shop, "/canned-replies")
    h = shop.owner.headers
    body = {"shortcut": "toimitus", "locale": "fi", "title": "Toimitus", "body": "1-3 arkipäivää."}
    r = await client.post(url, json=body, headers=h)
    assert r.status_code == 201, r.text
    fi = r.json()
    assert {k: fi[k] for k in body} == body

    r = await client.post(url, json={**body, "title": "Toinen"}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["field"] == "shortcut"

    r = await client.post(url, json={**body, "locale": "en", "body": "1-3 days."}, headers=h)
    assert r.status_code == 201, r.text
    en = r.json()
    assert en["id"] != fi["id"]

    for bad in ("Toimitus", "/toimitus", "-alku", "väli lyönti", "x" * 33, ""):
        r = await client.post(url, json={**body, "shortcut": bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"]["field"] == "body.shortcut", bad

    r = await client.get(url, headers=h)
    assert [(x["shortcut"], x["locale"]) for x in r.json()] == [
        ("toimitus", "en"),
        ("toimitus", "fi"),
    ]

    r = await client.patch(
        f"{url}/{fi['id']}", json={"title": "Toimitusajat", "body": "Heti."}, headers=h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["body"], r.json()["shortcut"]) == (
        "Toimitusajat",
        "Heti.",
        "toimitus",
    )
    # Renaming onto a shortcut taken in the same language conflicts.
    r = await client.post(
        url, json={"shortcut": "kiitos", "locale": "fi", "title": "K", "body": "Kiitos!"}, headers=h
    )
    assert r.status_code == 201, r.text
    r = await client.patch(f"{url}/{fi['id']}", json={"shortcut": "kiitos"}, headers=h)
    assert r.status_code == 409
    assert r.json()["detail"]["field"] == "shortcut"
    r = await client.patch(f"{url}/{fi['id']}", json={"shortcut": "Bad!"}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "body.shortcut"

    r = await client.delete(f"{url}/{fi['id']}", headers=h)
    assert r.status_code == 204
    assert r.content == b""
    r = await client.delete(f"{url}/{fi['id']}", headers=h)
    assert r.status_code == 404
    r = await client.patch(f"{url}/{fi['id']}", json={"title": "x"}, headers=h)
    assert r.status_code == 404
    r = await client.get(url, headers=h)
    assert [(x["shortcut"], x["locale"]) for x in r.json()] == [
        ("toimitus", "en"),
        ("kiitos", "fi"),
    ]
    # The shortcut is free again in Finnish.
    r = await client.post(url, json=body, headers=h)
    assert r.status_code == 201, r.text


async def test_canned_replies_agents_read_only_strangers_see_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    other = await f.shop(app, client, "Toinen")
    agent = await f.user(app, client, "agentti@example.fi", workspace_id=shop.id, role="agent")
    admin = await f.user(app, client, "admin@example.fi", workspace_id=shop.id, role="admin")
    url = api(shop, "/canned-replies")
    body = {"shortcut": "hei", "locale": "fi", "title": "Hei", "body": "Hei! Miten voin auttaa?"}
    r = await client.post(url, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]

    r = await client.get(url, headers=agent.headers)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [rid]
    r = await client.post(url, json={**body, "shortcut": "moi"}, headers=agent.headers)
    assert r.status_code == 403
    r = await client.patch(f"{url}/{rid}", json={"title": "x"}, headers=agent.headers)
    assert r.status_code == 403
    r = await client.delete(f"{url}/{rid}", headers=agent.headers)
    assert r.status_code == 403

    for method, path, payload in [
        ("GET", url, None),
        ("POST", url, {**body, "shortcut": "moi"}),
        ("PATCH", f"{url}/{rid}", {"title": "x"}),
        ("DELETE", f"{url}/{rid}", None),
    ]:
        r = await client.request(method, path, json=payload, headers=other.owner.headers)
        assert r.status_code == 404, (method, r.text)
    # A reply of another workspace is not reachable through one's own.
    r = await client.patch(
        api(other, f"/canned-replies/{rid}"), json={"title": "x"}, headers=other.owner.headers
    )
    assert r.status_code == 404
    r = await client.get(url, headers=shop.owner.headers)
    assert [(x["id"], x["title"]) for x in r.json()] == [(rid, "Hei")]


# -------------------------------------------------------------------------------------- agents


async def test_agents_roster_shows_settings_presence_and_load(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    colleague = await f.user(app, client, "kollega@example.fi", workspace_id=shop.id)
    await f.shop(app, client, "Toinen", owner_email="muu@example.fi")  # not a member here
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        _v, _ack = await chat(host, shop, "Hei")
        r = await client.get(api(shop, "/agents"), headers=colleague.headers)
        assert r.status_code == 200, r.text
        rows = {x["user_id"]: x for x in r.json()}
        assert set(rows) == {shop.owner.user_id, colleague.user_id}
        me = rows[shop.owner.user_id]
        assert (me["status"], me["capacity"], me["open"], me["connected"]) == ("online", 3, 1, True)
        them = rows[colleague.user_id]
        assert (them["status"], them["capacity"], them["open"], them["connected"]) == (
            "online",
            3,
            0,
            False,
        )
        assert them["name"] == "Kollega"
        assert them["team_id"] is None
        await agent.close()
        # The console closed: no longer connected (presence drops at once).
        for _ in range(100):
            r = await client.get(api(shop, "/agents"), headers=shop.owner.headers)
            if not {x["user_id"]: x for x in r.json()}[shop.owner.user_id]["connected"]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the owner still shows as connected after closing the console")


async def test_agents_change_their_own_settings_admins_anyones(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    agent = await f.user(app, client, "agentti@example.fi", workspace_id=shop.id, role="agent")
    admin = await f.user(app, client, "admin@example.fi", workspace_id=shop.id, role="admin")
    outsider = await f.user(app, client, "ulkona@example.fi")

    async def patch(who: f.Staff, user_id: int, body: dict[str, Any]) -> httpx.Response:
        return await client.patch(api(shop, f"/agents/{user_id}"), json=body, headers=who.headers)

    r = await patch(agent, agent.user_id, {"capacity": 5, "status": "away"})
    assert r.status_code == 200, r.text
    assert (r.json()["capacity"], r.json()["status"]) == (5, "away")

    r = await patch(agent, shop.owner.user_id, {"capacity": 1})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "user_id"
    r = await patch(agent, admin.user_id, {"status": "away"})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "user_id"

    r = await patch(admin, agent.user_id, {"capacity": 7})
    assert r.status_code == 200, r.text
    assert r.json()["capacity"] == 7
    r = await patch(shop.owner, admin.user_id, {"capacity": 2})
    assert r.status_code == 200, r.text
    assert r.json()["capacity"] == 2

    r = await patch(shop.owner, agent.user_id, {"capacity": 51})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "body.capacity"
    r = await patch(shop.owner, agent.user_id, {"capacity": -1})
    assert r.status_code == 422
    r = await patch(shop.owner, agent.user_id, {"status": "busy"})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "body.status"
    r = await patch(shop.owner, agent.user_id, {"team_id": 424242})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "team_id"
    r = await patch(shop.owner, outsider.user_id, {"capacity": 2})
    assert r.status_code == 404
    assert r.json()["detail"]["field"] == "user_id"
    r = await patch(outsider, outsider.user_id, {"capacity": 2})
    assert r.status_code == 404  # not a member: the workspace does not exist for them

    r = await client.get(api(shop, "/agents"), headers=agent.headers)
    rows = {x["user_id"]: x for x in r.json()}
    assert (rows[agent.user_id]["capacity"], rows[agent.user_id]["status"]) == (7, "away")
    assert rows[admin.user_id]["capacity"] == 2
    assert rows[shop.owner.user_id]["capacity"] == 3
    assert outsider.user_id not in rows


async def test_away_agent_is_skipped_and_coming_back_drains_the_queue(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        r = await client.patch(
            api(shop, f"/agents/{shop.owner.user_id}"),
            json={"status": "away"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["connected"]) == ("away", True)

        visitor = await ck.visitor(host, shop, ck.new_visitor())
        ready = await visitor.expect("ready")
        assert ready["agents_online"] == 0
        ack = await visitor.say("Onko ketään paikalla?")
        cid = ack["conversation_id"]
        view = await until_view(visitor, queue_position=1)
        assert view["status"] == "pending"
        assert view["assignee"] is None
        conv = await conversation(client, shop, cid)
        assert (conv["status"], conv["assignee_id"]) == ("pending", None)
        assert conv["queued_at"] is not None
        assert conv["lead_email"] is None

        r = await client.patch(
            api(shop, f"/agents/{shop.owner.user_id}"),
            json={"status": "online"},
            headers=shop.owner.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["open"] == 1
        view = await until_view(visitor, status="open")
        assert view["queue_position"] is None
        assert view["assignee"] is not None
        await agent.expect("notice", conversation_id=cid, user_id=shop.owner.user_id)
        conv = await conversation(client, shop, cid)
        assert (conv["status"], conv["assignee_id"]) == ("open", shop.owner.user_id)
        assert conv["queued_at"] is None
        assert await found(client, shop, view="queue") == []
        await visitor.close()
        await agent.close()


# ------------------------------------------------------------------------------- widget config


async def test_widget_config_checks_key_and_origin_and_counts_agents(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    url = "/api/v1/widget/config"
    r = await client.get(url, params={"site_key": shop.site_key}, headers={"Origin": f.ORIGIN})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == f.ORIGIN
    assert "Origin" in r.headers["vary"]
    assert r.headers["cache-control"] == "no-store"
    cfg = r.json()
    assert cfg == {
        "locale": "fi",
        "title": None,
        "color": None,
        "page_patterns": [],
        "agents_online": 0,
    }

    r = await client.get(
        url, params={"site_key": shop.site_key}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert r.json()["detail"]["field"] == "origin"
    assert "access-control-allow-origin" not in r.headers
    r = await client.get(url, params={"site_key": shop.site_key}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert r.json()["detail"]["field"] == "origin"
    r = await client.get(url, params={"site_key": "wrong-key"}, headers={"Origin": f.ORIGIN})
    assert r.status_code == 401
    assert r.json()["detail"]["field"] == "site_key"
    r = await client.get(url, headers={"Origin": f.ORIGIN})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "query.site_key"

    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        r = await client.get(url, params={"site_key": shop.site_key}, headers={"Origin": f.ORIGIN})
        assert r.json()["agents_online"] == 1
        await agent.close()


async def test_widget_settings_are_reflected_in_the_config(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    agent = await f.user(app, client, "agentti@example.fi", workspace_id=shop.id, role="agent")
    settings = {
        "title": "Kysy meiltä",
        "color": "#12AB9f",
        "page_patterns": [
            {"pattern": "/kori", "type": "cart"},
            {"pattern": "/tuote/*", "type": "product"},
        ],
    }
    r = await client.put(api(shop, "/widget"), json=settings, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {**settings, "chat_auto_resolve_hours": 24}  # the idle limit, unchanged
    r = await client.get(
        "/api/v1/widget/config", params={"site_key": shop.site_key}, headers={"Origin": f.ORIGIN}
    )
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert (cfg["title"], cfg["color"], cfg["page_patterns"]) == (
        settings["title"],
        settings["color"],
        settings["page_patterns"],
    )

    for bad, field in [
        ({"color": "red"}, "body.color"),
        ({"color": "#12345"}, "body.color"),
        ({"title": "x" * 61}, "body.title"),
        ({"page_patterns": [{"pattern": "kori", "type": "cart"}]}, "body.page_patterns[0].pattern"),
        ({"page_patterns": [{"pattern": "/k", "type": "basket"}]}, "body.page_patterns[0].type"),
    ]:
        r = await client.put(api(shop, "/widget"), json=bad, headers=shop.owner.headers)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"]["field"] == field, bad
    r = await client.put(api(shop, "/widget"), json={"title": "Ei"}, headers=agent.headers)
    assert r.status_code == 403
    # Nothing of the refused writes stuck.
    r = await client.get(
        "/api/v1/widget/config", params={"site_key": shop.site_key}, headers={"Origin": f.ORIGIN}
    )
    assert r.json()["color"] == "#12AB9f"
    assert r.json()["title"] == "Kysy meiltä"


# ------------------------------------------------------------------------------ widget assets


@pytest.mark.parametrize(
    ("name", "media"), [("widget.js", "text/javascript"), ("widget.css", "text/css")]
)
async def test_widget_assets_have_etag_gzip_and_revalidate(
    app: FastAPI, client: httpx.AsyncClient, name: str, media: str
) -> None:
    source = (WIDGET_DIR / name).read_bytes()
    r = await client.get(f"/{name}", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media)
    assert "content-encoding" not in r.headers
    assert r.content == source
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{8,}"', etag)
    assert "Accept-Encoding" in r.headers["vary"]

    async with client.stream("GET", f"/{name}", headers={"Accept-Encoding": "gzip"}) as resp:
        raw = b"".join([chunk async for chunk in resp.aiter_raw()])
        assert resp.status_code == 200
        assert resp.headers["content-encoding"] == "gzip"
        assert resp.headers["etag"] == etag
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == source
    assert len(raw) < len(source)

    r = await client.get(f"/{name}", headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    r = await client.get(f"/{name}", headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200
    assert r.content == source


async def test_widget_js_gzipped_fits_the_size_budget(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with client.stream("GET", "/widget.js", headers={"Accept-Encoding": "gzip"}) as resp:
        raw = b"".join([chunk async for chunk in resp.aiter_raw()])
    assert resp.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == (WIDGET_DIR / "widget.js").read_bytes()
    assert len(raw) <= GZIP_BUDGET, f"widget.js is {len(raw)} bytes gzipped; budget {GZIP_BUDGET}"


# ------------------------------------------------------------------ conversations opened by rules

CART_RULE: dict[str, Any] = {
    "name": "Ostoskori",
    "condition": {"==": [{"var": "page.type"}, "cart"]},
    "action": {
        "type": "open_chat",
        "messages": {"fi": "Voinko auttaa?", "en": "Can I help?"},
        "persona": {"name": "Aino"},
    },
    "variants": [
        {"key": "lyhyt", "messages": {"fi": "Apua ostoskorin kanssa?"}},
        {"key": "pitka", "messages": {"fi": "Hei! Voinko auttaa ostoskorisi kanssa tänään?"}},
    ],
}


async def _fire_cart_rule(v: rk.Visitor, clock: rk.Clock, rule_id: int) -> dict[str, Any]:
    await v.send("cart_add", {"product_id": "kamera", "unit_price": 49900, "category": "kamerat"})
    clock.advance(3)
    answer = await v.page("/kori", "cart")
    assert rk.fired(answer) == [rule_id]
    action: dict[str, Any] = answer["actions"][0]
    assert action["mode"] == "chat"
    assert isinstance(action["exposure_id"], int)
    return action


async def test_reply_to_a_rules_message_opens_a_rule_conversation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    clock = rk.use_clock(app)
    rule = await rk.create(client, shop, **CART_RULE)
    texts = {v["key"]: v["messages"]["fi"] for v in CART_RULE["variants"]}
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        v = rk.Visitor(client, shop, clock)
        action = await _fire_cart_rule(v, clock, rule["id"])
        variant = action["variant"]
        assert variant in texts
        assert action["message"] == texts[variant]
        # The visit moves on before the visitor answers: the conversation keeps the moment of
        # the rule, not the page the visitor is on when replying.
        clock.advance(5)
        await v.page("/kassa", "checkout")

        sock = await ck.visitor(host, shop, v.visitor, v.visit)
        await sock.expect("ready")
        ack = await sock.say("Kyllä, mikä on toimitusaika?", exposure_id=action["exposure_id"])
        assert ack["seq"] == 2
        cid = ack["conversation_id"]

        conv = await conversation(client, shop, cid)
        assert conv["origin"] == "rule"
        assert conv["rule_id"] == rule["id"]
        assert conv["exposure_id"] == action["exposure_id"]
        assert conv["variant"] == variant
        assert (conv["status"], conv["assignee_id"]) == ("open", shop.owner.user_id)
        assert conv["last_seq"] == 2
        msgs = await messages(client, shop, cid)
        assert [(m["seq"], m["author"], m["author_name"], m["body"]) for m in msgs] == [
            (1, "bot", "Aino", texts[variant]),
            (2, "visitor", "", "Kyllä, mikä on toimitusaika?"),
        ]
        bot = await agent.expect("message", conversation_id=cid, seq=1)
        assert (bot["author"], bot["body"]) == ("bot", texts[variant])
        mine = await sock.expect("message", conversation_id=cid, seq=1)
        assert mine["author"] == "bot"

        r = await client.get(api(shop, f"/conversations/{cid}/export"), headers=shop.owner.headers)
        context = r.json()["conversation"]["context"]
        async with transaction(app.state.sessionmaker) as s:
            exposure = await s.get(Exposure, action["exposure_id"])
            assert exposure is not None
            exposure_context = exposure.context
        assert context == exposure_context
        assert context["page"]["type"] == "cart"
        assert context["cart"]["value"] == 49900
        await sock.close()
        await agent.close()


async def test_an_exposure_of_another_visitor_or_unknown_opens_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    clock = rk.use_clock(app)
    rule = await rk.create(client, shop, **CART_RULE)
    async with ck.serve(app) as host:
        agent = await online_agent(app, host, shop.owner.user_id)
        shown = rk.Visitor(client, shop, clock)
        action = await _fire_cart_rule(shown, clock, rule["id"])

        other = await ck.visitor(host, shop, ck.new_visitor())
        await other.expect("ready")
        for exposure_id in (action["exposure_id"], 987_654_321):
            cid_ = f"client-{exposure_id}"
            await other.send(
                {
                    "type": "message",
                    "client_id": cid_,
                    "body": "Hei",
                    "exposure_id": exposure_id,
                }
            )
            err = await other.expect("error", client_id=cid_)
            assert err["field"] == "exposure_id"
            assert err["code"] == "invalid"
        assert not [x for x in other.seen if x["type"] in ("ack", "message")]
        assert await found(client, shop) == []

        # The refusals left nothing behind: a plain message starts an ordinary conversation.
        ack = await other.say("Hei vain")
        assert ack["seq"] == 1
        conv = await conversation(client, shop, ack["conversation_id"])
        assert (conv["origin"], conv["rule_id"], conv["exposure_id"]) == ("visitor", None, None)
        assert await found(client, shop) == [ack["conversation_id"]]
        await other.close()
        await agent.close()

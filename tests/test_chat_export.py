"""Issue 12 (item 11): a transcript export says what it is: the workspace's time zone, named,
and the page's language."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from tests import chatkit as ck
from tests import factory as f

pytestmark = pytest.mark.asyncio
ZONE = "America/New_York"  # not the default, and far from UTC: a UTC time cannot pass for it


def local(at: str) -> str:
    """What the transcript should print for a stored UTC time, computed here, not by the app."""
    return datetime.fromisoformat(at).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S %Z")


async def test_transcript_export_is_in_the_shops_time_zone_and_the_pages_language(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    base = f"/api/v1/workspaces/{shop.id}"
    r = await client.patch(base, json={"timezone": ZONE}, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    async with ck.serve(app) as host:
        agent = await ck.agent(host, await ck.cookie(app, shop.owner.user_id))
        await agent.expect("ready")
        visitor = await ck.visitor(host, shop, ck.new_visitor())
        await visitor.expect("ready")
        cid = (await visitor.say("Missä tilaukseni on?"))["conversation_id"]
        await agent.say("Katson heti.", conversation_id=cid)
        await agent.say("VIP", conversation_id=cid, note=True)
        await visitor.close()
        await agent.close()
    url = f"{base}/conversations/{cid}/export"
    owner = shop.owner.email.split("@")[0].title()

    r = await client.get(url, params={"format": "json"}, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    data = r.json()
    conv, msgs = data["conversation"], data["messages"]
    assert conv["timezone"] == ZONE
    assert conv["created_at"].endswith("+00:00")  # the stored instant stays UTC
    for m in msgs:
        assert m["at"].endswith("+00:00")
        stamp = datetime.fromisoformat(m["local_at"])
        assert stamp == datetime.fromisoformat(m["at"])  # the same instant...
        assert stamp.utcoffset() == stamp.astimezone(ZoneInfo(ZONE)).utcoffset()  # ...in the zone
    assert datetime.fromisoformat(conv["created_at_local"]) == datetime.fromisoformat(
        conv["created_at"]
    )

    texts = {
        "fi": (f"# Keskustelu {cid}", f"# Aikavyöhyke: {ZONE}", "Kävijä", "sisäinen muistiinpano"),
        "en": (f"# Conversation {cid}", f"# Time zone: {ZONE}", "Visitor", "internal note"),
    }
    for lang, (title, zone, visitor_label, note_label) in texts.items():
        r = await client.get(
            url, params={"format": "txt", "lang": lang}, headers=shop.owner.headers
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-language"] == lang
        lines = r.text.splitlines()
        assert lines[0] == f"{title} · {local(conv['created_at'])}"
        assert lines[1] == zone
        assert lines[2:] == [
            f"[{local(msgs[0]['at'])}] {visitor_label}: Missä tilaukseni on?",
            f"[{local(msgs[1]['at'])}] {owner}: Katson heti.",
            f"[{local(msgs[2]['at'])}] {owner} ({note_label}): VIP",
        ]
        assert "UTC" not in r.text

    # Without `lang`, the request's language (the console passes its own; a browser says it).
    r = await client.get(
        url, params={"format": "txt"}, headers={**shop.owner.headers, "Accept-Language": "en-GB"}
    )
    assert r.text.startswith(f"# Conversation {cid}")
    r = await client.get(url, params={"format": "txt", "lang": "sv"}, headers=shop.owner.headers)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "query.lang"
    assert re.search(r"lang", r.json()["detail"]["message"])

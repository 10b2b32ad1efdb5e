"""The console's pages: inbox, canned replies, chat settings (widget, teams, agents), in Finnish."""

from __future__ import annotations

import json
import re

import httpx
from fastapi import FastAPI

from tests import factory as f
from tests.test_pages import _csrf, _log_in


async def _session(app: FastAPI, client: httpx.AsyncClient) -> tuple[f.Shop, str]:
    shop = await f.shop(app, client, owner_email="owner@kauppa.fi")
    r = await _log_in(client, "owner@kauppa.fi")
    assert r.status_code == 303, r.text
    client.cookies.set("kohtaamo_lang", "fi")
    page = await client.get(f"/workspaces/{shop.id}/chat-settings")
    assert page.status_code == 200, page.text
    return shop, _csrf(page.text)


async def test_inbox_page_boots_the_console_safely(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, csrf = await _session(app, client)
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/canned-replies",
        json={"shortcut": "xss", "locale": "fi", "title": "</script><b>x</b>", "body": "<img>"},
        headers=shop.owner.headers,
    )
    assert r.status_code == 201, r.text
    page = await client.get(f"/workspaces/{shop.id}/inbox")
    assert page.status_code == 200
    assert "Saapuneet" in page.text
    boot = re.search(
        r'<script type="application/json" id="console-boot">(.*?)</script>', page.text, re.S
    )
    assert boot is not None
    assert "</script><b>" not in boot.group(1)  # "<" is escaped: nothing can end the element
    data = json.loads(boot.group(1))
    assert data["workspace_id"] == shop.id
    assert data["csrf"] == csrf
    assert data["canned"][0]["title"] == "</script><b>x</b>"
    assert data["texts"]["send"] == "Lähetä"
    assert '<script src="/static/console.js" defer></script>' in page.text


async def test_canned_replies_page_adds_refuses_duplicates_and_deletes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, csrf = await _session(app, client)
    url = f"/workspaces/{shop.id}/canned-replies"
    form = {
        "csrf_token": csrf,
        "shortcut": "kiitos",
        "locale": "fi",
        "title": "Kiitos",
        "body": "Kiitos!",
    }
    r = await client.post(url, data=form)
    assert r.status_code == 303
    again = await client.post(url, data=form)
    assert again.status_code == 409
    assert "/kiitos already exists in fi" in again.text
    assert 'value="Kiitos"' in again.text  # what was typed is kept
    bad = await client.post(url, data={**form, "shortcut": "Iso Kirjain"})
    assert bad.status_code == 422
    assert "shortcut" in bad.text
    rows = (
        await client.get(f"/api/v1/workspaces/{shop.id}/canned-replies", headers=shop.owner.headers)
    ).json()
    assert [x["shortcut"] for x in rows] == ["kiitos"]
    r = await client.post(f"{url}/{rows[0]['id']}", data={"csrf_token": csrf, "delete": "1"})
    assert r.status_code == 303
    r = await client.post(url, data={"csrf_token": csrf, "starters": "1"})
    assert r.status_code == 303
    rows = (
        await client.get(f"/api/v1/workspaces/{shop.id}/canned-replies", headers=shop.owner.headers)
    ).json()
    assert {x["shortcut"] for x in rows} == {
        "hei",
        "hi",
        "toimitus",
        "delivery",
        "kiitos",
        "thanks",
    }


async def test_chat_settings_widget_teams_and_agents(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, csrf = await _session(app, client)
    url = f"/workspaces/{shop.id}/chat-settings"
    r = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "what": "widget",
            "title": "Kaupan chat",
            "color": "#7c3aed",
            "patterns": "/tuotteet/* product\n\n/kori cart\n",
        },
    )
    assert r.status_code == 303, r.text
    config = await client.get(
        f"/api/v1/widget/config?site_key={shop.site_key}", headers={"Origin": f.ORIGIN}
    )
    assert config.json()["title"] == "Kaupan chat"
    assert config.json()["page_patterns"] == [
        {"pattern": "/tuotteet/*", "type": "product"},
        {"pattern": "/kori", "type": "cart"},
    ]
    bad = await client.post(
        url, data={"csrf_token": csrf, "what": "widget", "patterns": "/x sivu", "color": "#000000"}
    )
    assert bad.status_code == 422
    assert "page_patterns" in bad.text
    assert "/x sivu" in bad.text  # kept for fixing
    r = await client.post(url, data={"csrf_token": csrf, "what": "team", "name": "Myynti"})
    assert r.status_code == 303
    dup = await client.post(url, data={"csrf_token": csrf, "what": "team", "name": "Myynti"})
    assert dup.status_code == 409
    teams = (
        await client.get(f"/api/v1/workspaces/{shop.id}/teams", headers=shop.owner.headers)
    ).json()
    r = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "what": "agent",
            "user_id": str(shop.owner.user_id),
            "capacity": "5",
            "team_id": str(teams[0]["id"]),
        },
    )
    assert r.status_code == 303, r.text
    roster = (
        await client.get(f"/api/v1/workspaces/{shop.id}/agents", headers=shop.owner.headers)
    ).json()
    assert roster[0]["capacity"] == 5
    assert roster[0]["team_id"] == teams[0]["id"]
    page = await client.get(url)
    assert "Chat-asetukset" in page.text
    assert "Myynti" in page.text
    too_many = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "what": "agent",
            "user_id": str(shop.owner.user_id),
            "capacity": "99",
        },
    )
    assert too_many.status_code == 422
    assert "capacity" in too_many.text


async def test_agents_see_settings_but_cannot_change_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    await f.user(app, client, "aino@kauppa.fi", workspace_id=shop.id, role="agent")
    r = await _log_in(client, "aino@kauppa.fi")
    assert r.status_code == 303
    page = await client.get(f"/workspaces/{shop.id}/chat-settings")
    assert page.status_code == 200
    r = await client.post(
        f"/workspaces/{shop.id}/chat-settings",
        data={"csrf_token": _csrf(page.text), "what": "team", "name": "Oma"},
    )
    assert r.status_code == 403
    teams = (
        await client.get(f"/api/v1/workspaces/{shop.id}/teams", headers=shop.owner.headers)
    ).json()
    assert teams == []

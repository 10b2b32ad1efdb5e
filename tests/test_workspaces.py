"""Workspaces over the API: settings validation, roles, API keys, members and site-key rotation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests import factory

WS = "/api/v1/workspaces"


def _detail(r: httpx.Response) -> dict[str, Any]:
    detail: dict[str, Any] = r.json()["detail"]
    assert detail["message"], detail
    return detail


def _server_batch(visit: str = "server-visit") -> dict[str, Any]:
    return {
        "visitor_id": "vis-server",
        "visit_id": visit,
        "events": [
            factory.event("purchase", {"order_id": "o-1", "value": 1200, "currency": "EUR"})
        ],
    }


async def _server_track(client: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await client.post(
        "/api/v1/track", json=_server_batch(), headers={"Authorization": f"Bearer {secret}"}
    )


async def test_creator_owns_the_new_workspace(app: FastAPI, client: httpx.AsyncClient) -> None:
    staff = await factory.user(app, client, "anna@example.fi")
    r = await client.post(
        WS,
        json={"name": "  Kukkakauppa ", "allowed_origins": ["https://kukka.example"]},
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    ws = r.json()
    assert ws["name"] == "Kukkakauppa"
    assert ws["site_key"].startswith("ks_")
    assert (ws["timezone"], ws["locale"], ws["currency"]) == ("Europe/Helsinki", "fi", "EUR")
    me = (await client.get("/api/v1/me", headers=staff.headers)).json()
    assert me["memberships"] == [
        {"workspace_id": ws["id"], "workspace_name": "Kukkakauppa", "role": "owner"}
    ]
    listed = (await client.get(WS, headers=staff.headers)).json()
    assert [w["id"] for w in listed] == [ws["id"]]
    members = (await client.get(f"{WS}/{ws['id']}/members", headers=staff.headers)).json()
    assert [(m["email"], m["role"]) for m in members] == [("anna@example.fi", "owner")]


async def test_creating_a_workspace_needs_login(client: httpx.AsyncClient) -> None:
    r = await client.post(WS, json={"name": "X"})
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allowed_origins": ["ftp://x"]}, "allowed_origins"),
        ({"allowed_origins": ["https://a.example/path"]}, "allowed_origins"),
        ({"allowed_origins": ["https://a.example?x=1"]}, "allowed_origins"),
        ({"allowed_origins": ["https://user@a.example"]}, "allowed_origins"),
        ({"allowed_origins": ["shop.example"]}, "allowed_origins"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"locale": "sv"}, "locale"),
        ({"name": ""}, "name"),
        ({"site_key": "ks_mine"}, "site_key"),
    ],
)
async def test_bad_settings_are_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    shop = await factory.shop(app, client)
    r = await client.patch(f"{WS}/{shop.id}", json=body, headers=shop.owner.headers)
    assert r.status_code == 422, r.text
    detail = _detail(r)
    assert detail["code"] == "invalid"
    assert detail["field"] == f"body.{field}"
    after = (await client.get(f"{WS}/{shop.id}", headers=shop.owner.headers)).json()
    assert after["allowed_origins"] == [factory.ORIGIN]
    assert (after["timezone"], after["currency"], after["locale"]) == (
        "Europe/Helsinki",
        "EUR",
        "fi",
    )


async def test_origins_are_normalised(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    sub = {"Origin": "https://m.kauppa.example"}
    body = factory.batch(shop, [factory.page("https://m.kauppa.example/")])
    r = await factory.track(client, body, headers=sub)  # refused, and the site is now cached
    assert r.status_code == 403, r.text
    origins = [
        "https://Shop.Example/",
        "HTTPS://SHOP.EXAMPLE",
        " http://localhost:8080/ ",
        "https://*.Kauppa.Example",
    ]
    r = await client.patch(
        f"{WS}/{shop.id}",
        json={"allowed_origins": origins, "timezone": "America/New_York", "currency": "USD"},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    expected = ["https://shop.example", "http://localhost:8080", "https://*.kauppa.example"]
    assert r.json()["allowed_origins"] == expected
    again = (await client.get(f"{WS}/{shop.id}", headers=shop.owner.headers)).json()
    assert again["allowed_origins"] == expected
    assert (again["timezone"], again["currency"], again["name"]) == (
        "America/New_York",
        "USD",
        "Kauppa",
    )
    # The widget is welcome from a subdomain at once, and still refused elsewhere.
    ok = await factory.track(client, body, headers=sub)
    assert ok.status_code == 200, ok.text
    body = factory.batch(shop, [factory.page("https://evil.example/")], visit="v-2")
    bad = await factory.track(client, body, headers={"Origin": "https://evil.example"})
    assert bad.status_code == 403, bad.text
    assert _detail(bad)["field"] == "origin"


async def test_agent_can_read_but_not_change(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    agent = await factory.user(app, client, "agent@example.fi", workspace_id=shop.id, role="agent")
    r = await client.get(f"{WS}/{shop.id}", headers=agent.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Kauppa"
    assert (await client.get(f"{WS}/{shop.id}/members", headers=agent.headers)).status_code == 200
    forbidden = [
        await client.patch(f"{WS}/{shop.id}", json={"name": "Mine"}, headers=agent.headers),
        await client.post(f"{WS}/{shop.id}/api-keys", json={"name": "x"}, headers=agent.headers),
        await client.get(f"{WS}/{shop.id}/api-keys", headers=agent.headers),
        await client.post(f"{WS}/{shop.id}/site-key/rotate", headers=agent.headers),
        await client.post(
            f"{WS}/{shop.id}/invitations",
            json={"email": "agent@example.fi", "role": "admin"},
            headers=agent.headers,
        ),
    ]
    for r in forbidden:
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
        assert _detail(r)["code"] == "forbidden"
    after = (await client.get(f"{WS}/{shop.id}", headers=shop.owner.headers)).json()
    assert after["name"] == "Kauppa"
    assert after["site_key"] == shop.site_key
    keys = (await client.get(f"{WS}/{shop.id}/api-keys", headers=shop.owner.headers)).json()
    assert [k["name"] for k in keys] == ["server"]


async def test_api_key_secret_is_shown_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    r = await client.post(
        f"{WS}/{shop.id}/api-keys", json={"name": " erp "}, headers=shop.owner.headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("ksk_")
    assert created["name"] == "erp"
    assert secret.startswith(created["prefix"])
    assert created["revoked_at"] is None
    r = await client.get(f"{WS}/{shop.id}/api-keys", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    assert [k["name"] for k in r.json()] == ["server", "erp"]
    assert all("secret" not in k for k in r.json())
    assert secret not in r.text
    assert shop.api_key not in r.text
    r = await client.get(f"{WS}/{shop.id}", headers=shop.owner.headers)
    assert secret not in r.text


async def test_revoked_api_key_is_refused_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    r = await _server_track(client, shop.api_key)  # also puts the key in the worker's cache
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    keys = (await client.get(f"{WS}/{shop.id}/api-keys", headers=shop.owner.headers)).json()
    key_id = keys[0]["id"]
    assert keys[0]["last_used_at"] is not None
    r = await client.delete(f"{WS}/{shop.id}/api-keys/{key_id}", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    r = await _server_track(client, shop.api_key)
    assert r.status_code == 401, r.text
    assert _detail(r)["code"] == "unauthorized"
    # Revoking again is harmless; an unknown key id is 404.
    r = await client.delete(f"{WS}/{shop.id}/api-keys/{key_id}", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    r = await client.delete(f"{WS}/{shop.id}/api-keys/{key_id + 999}", headers=shop.owner.headers)
    assert r.status_code == 404, r.text
    assert _detail(r)["field"] == "key_id"


async def test_a_new_api_key_works_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    r = await _server_track(client, "ksk_" + "x" * 43)  # a miss is cached too
    assert r.status_code == 401, r.text
    r = await client.post(
        f"{WS}/{shop.id}/api-keys", json={"name": "b"}, headers=shop.owner.headers
    )
    r = await _server_track(client, r.json()["secret"])
    assert r.status_code == 200, r.text


async def test_rotated_site_key_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    r = await factory.track(client, factory.batch(shop, [factory.page("https://shop.example/")]))
    assert r.status_code == 200, r.text  # the old key is now cached in this worker
    r = await client.post(f"{WS}/{shop.id}/site-key/rotate", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    new_key = r.json()["site_key"]
    assert new_key.startswith("ks_")
    assert new_key != shop.site_key
    r = await factory.track(client, factory.batch(shop, [factory.page("https://shop.example/")]))
    assert r.status_code == 401, r.text
    assert _detail(r)["field"] == "site_key"
    shop.site_key = new_key
    r = await factory.track(client, factory.batch(shop, [factory.page("https://shop.example/a")]))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    # The secret API key is not affected by the rotation.
    assert (await _server_track(client, shop.api_key)).status_code == 200

"""Workspaces over the API: settings validation, roles, API keys, members and site-key rotation."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.auth import service as auth
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
            f"{WS}/{shop.id}/members",
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


async def test_members_are_added_changed_and_removed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await factory.shop(app, client)
    base = f"{WS}/{shop.id}/members"
    bea = await factory.user(app, client, "bea@example.fi")
    r = await client.post(base, json={"email": "nobody@example.fi"}, headers=shop.owner.headers)
    assert r.status_code == 404, r.text
    assert _detail(r)["field"] == "email"
    r = await client.post(base, json={"email": "Bea@Example.fi"}, headers=shop.owner.headers)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "user_id": bea.user_id,
        "email": "bea@example.fi",
        "name": "Bea",
        "role": "agent",
    }
    r = await client.post(base, json={"email": "bea@example.fi"}, headers=shop.owner.headers)
    assert r.status_code == 409, r.text
    assert (await client.get(f"{WS}/{shop.id}", headers=bea.headers)).status_code == 200

    r = await client.patch(
        f"{base}/{bea.user_id}", json={"role": "admin"}, headers=shop.owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"
    r = await client.get(f"{WS}/{shop.id}/api-keys", headers=bea.headers)
    assert r.status_code == 200, r.text  # admin now

    r = await client.delete(f"{base}/{bea.user_id}", headers=shop.owner.headers)
    assert r.status_code == 204, r.text
    assert (await client.get(f"{WS}/{shop.id}", headers=bea.headers)).status_code == 404
    r = await client.delete(f"{base}/{bea.user_id}", headers=shop.owner.headers)
    assert r.status_code == 404, r.text
    assert _detail(r)["field"] == "user_id"


async def test_the_last_owner_stays(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    base = f"{WS}/{shop.id}/members"
    owner_id = shop.owner.user_id
    r = await client.delete(f"{base}/{owner_id}", headers=shop.owner.headers)
    assert r.status_code == 409, r.text
    assert _detail(r)["code"] == "conflict"
    r = await client.patch(f"{base}/{owner_id}", json={"role": "admin"}, headers=shop.owner.headers)
    assert r.status_code == 409, r.text
    members = (await client.get(base, headers=shop.owner.headers)).json()
    assert [(m["user_id"], m["role"]) for m in members] == [(owner_id, "owner")]

    # With a second owner, the first may step down.
    second = await factory.user(
        app, client, "second@example.fi", workspace_id=shop.id, role="owner"
    )
    r = await client.patch(f"{base}/{owner_id}", json={"role": "admin"}, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    r = await client.delete(f"{base}/{second.user_id}", headers=second.headers)
    assert r.status_code == 409, r.text  # now the second one is the last owner


async def test_admin_cannot_make_or_unmake_owners(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    base = f"{WS}/{shop.id}/members"
    admin = await factory.user(app, client, "admin@example.fi", workspace_id=shop.id, role="admin")
    carl = await factory.user(app, client, "carl@example.fi")
    r = await client.post(
        base, json={"email": "carl@example.fi", "role": "owner"}, headers=admin.headers
    )
    assert r.status_code == 403, r.text
    assert _detail(r)["field"] == "role"
    r = await client.post(
        base, json={"email": "carl@example.fi", "role": "agent"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    r = await client.patch(f"{base}/{carl.user_id}", json={"role": "owner"}, headers=admin.headers)
    assert r.status_code == 403, r.text
    r = await client.patch(f"{base}/{admin.user_id}", json={"role": "owner"}, headers=admin.headers)
    assert r.status_code == 403, r.text
    r = await client.patch(
        f"{base}/{shop.owner.user_id}", json={"role": "agent"}, headers=admin.headers
    )
    assert r.status_code == 403, r.text
    r = await client.delete(f"{base}/{shop.owner.user_id}", headers=admin.headers)
    assert r.status_code == 403, r.text
    r = await client.post(f"{WS}/{shop.id}/site-key/rotate", headers=admin.headers)
    assert r.status_code == 403, r.text  # rotating is for owners
    roles = {m["email"]: m["role"] for m in (await client.get(base, headers=admin.headers)).json()}
    assert roles == {
        shop.owner.email: "owner",
        "admin@example.fi": "admin",
        "carl@example.fi": "agent",
    }


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


class _WriteBlock:
    """An outside transaction that holds B's membership rows (PostgreSQL) or the database's write
    lock (SQLite), so two requests can be made to read before either of them writes."""

    def __init__(self, database_url: str, workspace_id: int) -> None:
        self.url = database_url
        self.workspace_id = workspace_id

    async def __aenter__(self) -> _WriteBlock:
        if self.url.startswith("sqlite"):
            self.sqlite = sqlite3.connect(self.url.split(":///", 1)[1], isolation_level=None)
            self.sqlite.execute("BEGIN IMMEDIATE")
        else:
            self.pg = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
            self.tx = self.pg.transaction()
            await self.tx.start()
            await self.pg.execute(
                "SELECT 1 FROM memberships WHERE workspace_id = $1 FOR UPDATE", self.workspace_id
            )
        return self

    async def writers_waiting(self, n: int) -> None:
        if self.url.startswith("sqlite"):
            await asyncio.sleep(1.0)  # the requests only read until they reach the lock
            return
        for _ in range(200):
            # Statistics are a snapshot per transaction; this one is long, so clear it each time.
            await self.pg.execute("SELECT pg_stat_clear_snapshot()")
            waiting = await self.pg.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{n} writers never reached the lock")

    async def __aexit__(self, *exc: object) -> None:
        if self.url.startswith("sqlite"):
            self.sqlite.execute("ROLLBACK")
            self.sqlite.close()
        else:
            await self.tx.rollback()
            await self.pg.close()


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_two_owners_stepping_down_at_once_leave_one_owner(
    app: FastAPI, client: httpx.AsyncClient, method: str
) -> None:
    shop = await factory.shop(app, client)
    second = await factory.user(
        app, client, "second@example.fi", workspace_id=shop.id, role="owner"
    )
    base = f"{WS}/{shop.id}/members"
    body = {"role": "admin"} if method == "PATCH" else None
    async with _WriteBlock(app.state.settings.database_url, shop.id) as block:
        first = asyncio.create_task(
            client.request(
                method, f"{base}/{shop.owner.user_id}", json=body, headers=shop.owner.headers
            )
        )
        other = asyncio.create_task(
            client.request(method, f"{base}/{second.user_id}", json=body, headers=second.headers)
        )
        await block.writers_waiting(2)
    results = sorted([(await first).status_code, (await other).status_code])
    async with app.state.sessionmaker() as s:
        owners = await auth.list_members(s, shop.id)
    assert [u.email for m, u in owners if m.role == "owner"], (results, "no owner is left")
    assert results[0] < 300
    assert results[1] == 409

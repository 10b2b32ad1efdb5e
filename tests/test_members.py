"""Members: invitations accepted by the invited person, roles, and the last owner."""

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


async def test_members_join_by_accepting_an_invitation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await factory.shop(app, client)
    base = f"{WS}/{shop.id}/members"
    bea = await factory.user(app, client, "bea@example.fi")
    h = shop.owner.headers
    # The same answer whether or not anyone has the email: no account lookup through invites.
    nobody = await client.post(
        f"{WS}/{shop.id}/invitations", json={"email": "nobody@example.fi"}, headers=h
    )
    r = await client.post(
        f"{WS}/{shop.id}/invitations", json={"email": "Bea@Example.fi"}, headers=h
    )
    assert (nobody.status_code, r.status_code) == (202, 202), (nobody.text, r.text)
    assert (
        set(nobody.json()) == set(r.json()) == {"id", "email", "role", "created_at", "expires_at"}
    )
    assert r.json()["email"] == "bea@example.fi"
    assert r.json()["role"] == "agent"
    # Not a member until she accepts.
    assert (await client.get(f"{WS}/{shop.id}", headers=bea.headers)).status_code == 404
    me = (await client.get("/api/v1/me", headers=bea.headers)).json()
    assert [(i["workspace_id"], i["workspace_name"], i["role"]) for i in me["invitations"]] == [
        (shop.id, "Kauppa", "agent")
    ]
    inv_id = me["invitations"][0]["id"]
    # Someone else cannot accept it.
    other = await factory.user(app, client, "other@example.fi")
    r = await client.post(f"/api/v1/invitations/{inv_id}/accept", headers=other.headers)
    assert r.status_code == 404, r.text
    r = await client.post(f"/api/v1/invitations/{inv_id}/accept", headers=bea.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"workspace_id": shop.id, "workspace_name": "Kauppa", "role": "agent"}
    assert (await client.get(f"{WS}/{shop.id}", headers=bea.headers)).status_code == 200
    r = await client.post(f"/api/v1/invitations/{inv_id}/accept", headers=bea.headers)
    assert r.status_code == 404, r.text  # used once
    open_ = (await client.get(f"{WS}/{shop.id}/invitations", headers=h)).json()
    assert [i["email"] for i in open_] == ["nobody@example.fi"]

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


async def test_invitations_can_be_declined_and_withdrawn(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await factory.shop(app, client)
    h = shop.owner.headers
    dan = await factory.user(app, client, "dan@example.fi")
    first = (
        await client.post(
            f"{WS}/{shop.id}/invitations", json={"email": "dan@example.fi"}, headers=h
        )
    ).json()
    again = (
        await client.post(
            f"{WS}/{shop.id}/invitations",
            json={"email": "dan@example.fi", "role": "admin"},
            headers=h,
        )
    ).json()
    # A new invitation replaces the open one.
    assert [
        i["id"] for i in (await client.get("/api/v1/me", headers=dan.headers)).json()["invitations"]
    ] == [again["id"]]
    r = await client.post(f"/api/v1/invitations/{first['id']}/accept", headers=dan.headers)
    assert r.status_code == 404, r.text
    r = await client.post(f"/api/v1/invitations/{again['id']}/decline", headers=dan.headers)
    assert r.status_code == 204, r.text
    assert (await client.get("/api/v1/me", headers=dan.headers)).json()["invitations"] == []
    third = (
        await client.post(
            f"{WS}/{shop.id}/invitations", json={"email": "dan@example.fi"}, headers=h
        )
    ).json()
    r = await client.delete(f"{WS}/{shop.id}/invitations/{third['id']}", headers=h)
    assert r.status_code == 204, r.text
    r = await client.post(f"/api/v1/invitations/{third['id']}/accept", headers=dan.headers)
    assert r.status_code == 404, r.text
    assert (await client.get(f"{WS}/{shop.id}", headers=dan.headers)).status_code == 404
    r = await client.post(f"{WS}/{shop.id}/invitations", json={"email": "not an email"}, headers=h)
    assert r.status_code == 422, r.text
    assert _detail(r)["field"] == "body.email"


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
    invites = f"{WS}/{shop.id}/invitations"
    r = await client.post(
        invites, json={"email": "carl@example.fi", "role": "owner"}, headers=admin.headers
    )
    assert r.status_code == 403, r.text
    assert _detail(r)["field"] == "role"
    r = await client.post(
        invites, json={"email": "carl@example.fi", "role": "agent"}, headers=admin.headers
    )
    assert r.status_code == 202, r.text
    r = await client.post(f"/api/v1/invitations/{r.json()['id']}/accept", headers=carl.headers)
    assert r.status_code == 200, r.text
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

"""Signed identify over the HTTP API: the owner turns identity verification on and off, a browser's
`identify` must then carry the shop server's HMAC-SHA256 signature of the customer id (checked,
never stored), the secret API key's calls are trusted; and the attribution window setting.

The signatures are computed here with `hmac` directly, not with the product's helper. Every check
right after a settings change runs on a warm site cache, with no sleeps: the change itself must
reach this worker's directory (WorkspaceChanged)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests import factory as f

pytestmark = pytest.mark.asyncio

WS = "/api/v1/workspaces"
CUSTOMER = "asiakas-1001"


def sign(secret: str, customer_id: str) -> str:
    return hmac.new(secret.encode("utf-8"), customer_id.encode("utf-8"), hashlib.sha256).hexdigest()


def identify(customer_id: str, signature: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"customer_id": customer_id}
    if signature is not None:
        props["signature"] = signature
    return f.event("identify", props)


def _detail(r: httpx.Response) -> dict[str, Any]:
    detail: dict[str, Any] = r.json()["detail"]
    assert detail["message"], detail
    return detail


async def _workspace(client: httpx.AsyncClient, shop: f.Shop) -> dict[str, Any]:
    r = await client.get(f"{WS}/{shop.id}", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _visitor(client: httpx.AsyncClient, shop: f.Shop, visitor: str) -> httpx.Response:
    return await client.get(f"{WS}/{shop.id}/visitors/{visitor}", headers=shop.owner.headers)


async def _events(client: httpx.AsyncClient, shop: f.Shop, visitor: str) -> list[dict[str, Any]]:
    r = await client.get(
        f"{WS}/{shop.id}/visitors/{visitor}/events?limit=1000", headers=shop.owner.headers
    )
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def _warm(client: httpx.AsyncClient, shop: f.Shop) -> None:
    """One accepted batch, so this worker's directory holds the site (and the API key)."""
    r = await f.track(client, f.batch(shop, [f.page("https://shop.example/")], visitor="warm"))
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/track",
        json={
            "visitor_id": "warm-server",
            "visit_id": "warm-server-1",
            "events": [f.page("https://shop.example/")],
        },
        headers={"Authorization": f"Bearer {shop.api_key}"},
    )
    assert r.status_code == 200, r.text


async def _turn_on(client: httpx.AsyncClient, shop: f.Shop) -> str:
    r = await client.post(f"{WS}/{shop.id}/identity-secret", headers=shop.owner.headers)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"secret"}
    secret: str = r.json()["secret"]
    return secret


async def test_without_a_secret_an_unsigned_identify_is_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    ws = await _workspace(client, shop)
    assert (ws["identity_verification"], ws["attribution_days"]) == (False, 7)
    r = await f.track(
        client,
        f.batch(shop, [f.page("https://shop.example/tili"), identify(CUSTOMER)], visitor="v-a"),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"]) == (2, 0)
    v = await _visitor(client, shop, "v-a")
    assert v.status_code == 200, v.text
    assert v.json()["customer_id"] == CUSTOMER
    # A signature sent while verification is off is not checked, and not stored either.
    r = await f.track(
        client, f.batch(shop, [identify("asiakas-2", "ab" * 32)], visitor="v-b", visit="v-b-1")
    )
    assert r.status_code == 200, r.text
    (stored,) = await _events(client, shop, "v-b")
    assert (stored["type"], stored["props"]) == ("identify", {"customer_id": "asiakas-2"})
    assert (await _visitor(client, shop, "v-b")).json()["customer_id"] == "asiakas-2"


async def test_secret_is_shown_once_and_the_workspace_says_verification_is_on(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    secret = await _turn_on(client, shop)
    assert len(secret) == 64
    int(secret, 16)  # hex
    ws = await _workspace(client, shop)
    assert ws["identity_verification"] is True
    assert "identity_secret" not in ws
    for path in ("", "/api-keys", "/members"):
        r = await client.get(f"{WS}/{shop.id}{path}", headers=shop.owner.headers)
        assert r.status_code == 200, r.text
        assert secret not in r.text, path
    listed = await client.get(WS, headers=shop.owner.headers)
    assert [w["identity_verification"] for w in listed.json()] == [True]
    assert secret not in listed.text
    # Asking again rotates it: a new secret, still on.
    again = await _turn_on(client, shop)
    assert again != secret
    assert (await _workspace(client, shop))["identity_verification"] is True


async def test_browser_identify_must_carry_the_right_signature(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    await _warm(client, shop)  # the site is cached as it was before the secret existed
    secret = await _turn_on(client, shop)

    # No signature: refused at once (no sleep), naming the field; nothing of the batch stored.
    page = f.page("https://shop.example/tili", "account")
    r = await f.track(client, f.batch(shop, [page, identify(CUSTOMER)], visitor="v-1"))
    assert r.status_code == 403, r.text
    detail = _detail(r)
    assert (detail["code"], detail["field"]) == ("forbidden", "props.signature")
    assert (await _visitor(client, shop, "v-1")).status_code == 404
    assert await _events(client, shop, "v-1") == []

    # Wrong signatures: another customer's, one made with another key, garbage, empty.
    wrong = [
        sign(secret, "asiakas-2"),
        sign("not-the-secret", CUSTOMER),
        "0" * 64,
        "kissa",
        "",
    ]
    for bad in wrong:
        r = await f.track(client, f.batch(shop, [page, identify(CUSTOMER, bad)], visitor="v-1"))
        assert r.status_code == 403, (bad, r.text)
        assert _detail(r)["field"] == "props.signature", bad
    assert (await _visitor(client, shop, "v-1")).status_code == 404

    # A batch whose second identify is unsigned is refused whole, the signed one too.
    ok_one = identify(CUSTOMER, sign(secret, CUSTOMER))
    r = await f.track(client, f.batch(shop, [ok_one, identify("asiakas-2")], visitor="v-1"))
    assert r.status_code == 403, r.text
    assert _detail(r)["field"] == "props.signature"
    assert await _events(client, shop, "v-1") == []

    # The right one: stored, the visitor linked, the signature dropped.
    signed = identify(CUSTOMER, sign(secret, CUSTOMER))
    r = await f.track(client, f.batch(shop, [page, signed], visitor="v-1"))
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"]) == (2, 0)
    v = await _visitor(client, shop, "v-1")
    assert v.status_code == 200, v.text
    assert v.json()["customer_id"] == CUSTOMER
    stored = {e["id"]: e for e in await _events(client, shop, "v-1")}
    assert set(stored) == {page["id"], signed["id"]}
    assert stored[signed["id"]]["props"] == {"customer_id": CUSTOMER}
    assert stored[signed["id"]]["source"] == "widget"
    assert signed["props"]["signature"] not in str(stored)

    # Events other than identify need no signature.
    r = await f.track(client, f.batch(shop, [f.page("https://shop.example/kori", "cart")]))
    assert r.status_code == 200, r.text


async def test_a_rotated_secret_refuses_the_old_signature(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    first = await _turn_on(client, shop)
    r = await f.track(client, f.batch(shop, [identify(CUSTOMER, sign(first, CUSTOMER))]))
    assert r.status_code == 200, r.text  # the site is cached with the first secret
    second = await _turn_on(client, shop)
    r = await f.track(
        client, f.batch(shop, [identify(CUSTOMER, sign(first, CUSTOMER))], visitor="v-2")
    )
    assert r.status_code == 403, r.text
    assert _detail(r)["field"] == "props.signature"
    r = await f.track(
        client, f.batch(shop, [identify(CUSTOMER, sign(second, CUSTOMER))], visitor="v-2")
    )
    assert r.status_code == 200, r.text
    assert (await _visitor(client, shop, "v-2")).json()["customer_id"] == CUSTOMER


async def test_the_shops_server_is_trusted_without_a_signature(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    await _warm(client, shop)
    await _turn_on(client, shop)
    ev = identify(CUSTOMER)
    r = await client.post(
        "/api/v1/track",
        json={"visitor_id": "v-srv", "visit_id": "v-srv-1", "events": [ev]},
        headers={"Authorization": f"Bearer {shop.api_key}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert (await _visitor(client, shop, "v-srv")).json()["customer_id"] == CUSTOMER
    (stored,) = await _events(client, shop, "v-srv")
    assert (stored["id"], stored["props"], stored["source"]) == (
        ev["id"],
        {"customer_id": CUSTOMER},
        "server",
    )
    # The same batch from a browser with the site key is not.
    body = f.batch(shop, [identify(CUSTOMER)], visitor="v-web", visit="v-web-1")
    r = await f.track(client, body)
    assert r.status_code == 403, r.text
    assert (await _visitor(client, shop, "v-web")).status_code == 404


@pytest.mark.parametrize("role", ["admin", "agent"])
async def test_only_an_owner_turns_verification_on_or_off(
    app: FastAPI, client: httpx.AsyncClient, role: str
) -> None:
    shop = await f.shop(app, client)
    member = await f.user(app, client, f"{role}@kauppa.fi", workspace_id=shop.id, role=role)
    r = await client.post(f"{WS}/{shop.id}/identity-secret", headers=member.headers)
    assert r.status_code == 403, r.text
    assert _detail(r)["code"] == "forbidden"
    assert "secret" not in r.json()
    assert (await _workspace(client, shop))["identity_verification"] is False
    r = await f.track(client, f.batch(shop, [identify(CUSTOMER)]))
    assert r.status_code == 200, r.text  # still off: unsigned is fine

    await _turn_on(client, shop)
    r = await client.delete(f"{WS}/{shop.id}/identity-secret", headers=member.headers)
    assert r.status_code == 403, r.text
    assert _detail(r)["code"] == "forbidden"
    assert (await _workspace(client, shop))["identity_verification"] is True
    r = await f.track(client, f.batch(shop, [identify(CUSTOMER)], visitor="v-2"))
    assert r.status_code == 403, r.text  # still on


async def test_a_stranger_cannot_touch_another_workspaces_secret(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    other = await f.shop(app, client, "Toinen")
    for method in ("POST", "DELETE"):
        r = await client.request(
            method, f"{WS}/{shop.id}/identity-secret", headers=other.owner.headers
        )
        assert r.status_code == 404, (method, r.text)
    assert (await _workspace(client, shop))["identity_verification"] is False
    r = await client.post(f"{WS}/{shop.id}/identity-secret")
    assert r.status_code == 401, r.text


async def test_delete_turns_verification_off_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await f.shop(app, client)
    secret = await _turn_on(client, shop)
    r = await f.track(client, f.batch(shop, [identify(CUSTOMER)], visitor="v-1"))
    assert r.status_code == 403, r.text  # on, and the site is now cached with the secret
    r = await client.delete(f"{WS}/{shop.id}/identity-secret", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == shop.id
    assert r.json()["identity_verification"] is False
    assert secret not in r.text
    assert (await _workspace(client, shop))["identity_verification"] is False
    r = await f.track(client, f.batch(shop, [identify(CUSTOMER)], visitor="v-1"))
    assert r.status_code == 200, r.text
    assert (await _visitor(client, shop, "v-1")).json()["customer_id"] == CUSTOMER
    # Turning it off twice is harmless.
    r = await client.delete(f"{WS}/{shop.id}/identity-secret", headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["identity_verification"] is False


@pytest.mark.parametrize("days", [0, 91, -1, 365])
async def test_attribution_days_out_of_range_is_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, days: int
) -> None:
    shop = await f.shop(app, client)
    r = await client.patch(
        f"{WS}/{shop.id}", json={"attribution_days": days}, headers=shop.owner.headers
    )
    assert r.status_code == 422, r.text
    detail = _detail(r)
    assert (detail["code"], detail["field"]) == ("invalid", "body.attribution_days")
    assert (await _workspace(client, shop))["attribution_days"] == 7


@pytest.mark.parametrize("days", [1, 14, 90])
async def test_attribution_days_in_range_is_saved(
    app: FastAPI, client: httpx.AsyncClient, days: int
) -> None:
    shop = await f.shop(app, client)
    r = await client.patch(
        f"{WS}/{shop.id}", json={"attribution_days": days}, headers=shop.owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["attribution_days"] == days
    ws = await _workspace(client, shop)
    assert (ws["attribution_days"], ws["name"], ws["identity_verification"]) == (
        days,
        "Kauppa",
        False,
    )
    # Changing another setting leaves it as it is.
    r = await client.patch(f"{WS}/{shop.id}", json={"name": "Uusi"}, headers=shop.owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["attribution_days"] == days

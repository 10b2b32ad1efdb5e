"""Tenant isolation: the owner of workspace A probes every route of workspace B and gets 404.

The routes are read from the app itself, so a route added later is covered without editing this
file; a body for a new route is built from its schema (extend PLAUSIBLE if that fails).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from kohtaamo.analytics.archive import Archive
from kohtaamo.chat import service as chat
from kohtaamo.db.engine import transaction
from kohtaamo.shops.directory import Site
from tests import factory

VISITOR = "vis-b"
VISIT = "visit-b"
MISSING_WS = 987_654
# Values a caller would plausibly send, by field name; used to build valid bodies.
PLAUSIBLE: dict[str, Any] = {
    "name": "Taken over",
    "role": "owner",
    "allowed_origins": ["https://evil.example"],
    "timezone": "Europe/Helsinki",
    "locale": "en",
    "currency": "USD",
    "label": "x",
    "condition": True,
    "action": {"messages": {"fi": "Kaapattu"}},
    "enabled": False,
    "shortcut": "kaapattu",
    "title": "Kaapattu",
    "body": "Kaapattu",
    "secret": "kaapattu-salaisuus-123",
}


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path; newer FastAPI nests included routers in app.routes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif (inner := getattr(route, "original_router", None)) is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + getattr(context, "prefix", ""))


def _routes(app: FastAPI, marker: str) -> list[tuple[str, str, APIRoute]]:
    out: list[tuple[str, str, APIRoute]] = []
    for path, route in _walk(app.routes):
        if marker in path:
            out.extend((method, path, route) for method in sorted(route.methods or ()))
    return out


def _api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    return _routes(app, "{workspace_id}")


def _page_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    return _routes(app, "{ws_id}")


def _fill(path: str, values: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in values, f"no plausible value for the path parameter {name} in {path}"
        return str(values[name])

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    field = route.body_field
    if field is None:
        return None
    model = getattr(field, "type_", None) or field.field_info.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _json_body(route: APIRoute, attacker_email: str) -> dict[str, Any] | None:
    model = _body_model(route)
    if model is None:
        return {"name": "Taken over"} if route.body_field is not None else None
    values = {**PLAUSIBLE, "email": attacker_email}
    body = {name: values[name] for name in model.model_fields if name in values}
    try:
        model.model_validate(body)  # the body must be valid, so only access control can refuse
    except ValidationError as exc:
        raise AssertionError(f"extend PLAUSIBLE for {route.path}: {exc}") from None
    return body


async def _two_shops(app: FastAPI, client: httpx.AsyncClient) -> tuple[factory.Shop, factory.Shop]:
    a = await factory.shop(app, client, "Shop A", owner_email="alice@example.fi")
    b = await factory.shop(app, client, "Shop B", owner_email="bob@example.fi")
    # B gets a second member, a visitor with a visit and events, so every id below is real.
    await factory.user(app, client, "bea@example.fi", workspace_id=b.id, role="agent")
    r = await factory.track(
        client,
        factory.batch(b, [factory.page("https://shop.example/")], visitor=VISITOR, visit=VISIT),
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/workspaces/{b.id}/invitations",
        json={"email": "carl@example.fi"},
        headers=b.owner.headers,
    )
    assert r.status_code == 202, r.text
    r = await client.post(
        f"/api/v1/workspaces/{b.id}/rules",
        json={"name": "B's rule", "condition": True, "action": {"messages": {"fi": "Hei"}}},
        headers=b.owner.headers,
    )
    assert r.status_code == 201, r.text
    # A conversation of B's visitor (opened through the chat service, as its socket does), a
    # canned reply and a team.
    async with transaction(app.state.sessionmaker) as s:
        await chat.visitor_says(
            s,
            site=Site(b.id, (), "Europe/Helsinki", "fi", "EUR"),
            presence=app.state.presence,
            visitor_key=VISITOR,
            visit_key=VISIT,
            body="B:n salaisuus",
            client_id="b-client-0001",
        )
    r = await client.post(
        f"/api/v1/workspaces/{b.id}/canned-replies",
        json={"shortcut": "hei", "locale": "fi", "title": "Hei", "body": "Hei!"},
        headers=b.owner.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/workspaces/{b.id}/teams", json={"name": "Myynti"}, headers=b.owner.headers
    )
    assert r.status_code == 201, r.text
    return a, b


async def _snapshot(client: httpx.AsyncClient, b: factory.Shop) -> dict[str, Any]:
    h = b.owner.headers
    ws = f"/api/v1/workspaces/{b.id}"
    return {
        "workspace": (await client.get(ws, headers=h)).json(),
        "keys": (await client.get(f"{ws}/api-keys", headers=h)).json(),
        "members": (await client.get(f"{ws}/members", headers=h)).json(),
        "invitations": (await client.get(f"{ws}/invitations", headers=h)).json(),
        "visitors": (await client.get(f"{ws}/visitors", headers=h)).json(),
        "events": (await client.get(f"{ws}/visitors/{VISITOR}/events", headers=h)).json(),
        "rules": (await client.get(f"{ws}/rules", headers=h)).json(),
        "conversations": (await client.get(f"{ws}/conversations", headers=h)).json(),
        "canned": (await client.get(f"{ws}/canned-replies", headers=h)).json(),
        "teams": (await client.get(f"{ws}/teams", headers=h)).json(),
        "agents": (await client.get(f"{ws}/agents", headers=h)).json(),
    }


async def test_the_app_has_workspace_routes_to_probe(app: FastAPI) -> None:
    api = _api_routes(app)
    assert len({path for _, path, _ in api}) >= 10, [p for _, p, _ in api]
    assert {m for m, _, _ in api} >= {"GET", "POST", "PATCH", "DELETE"}
    pages = _page_routes(app)
    assert len(pages) >= 4, [p for _, p, _ in pages]
    assert {m for m, _, _ in pages} >= {"GET", "POST"}


async def test_other_workspaces_api_is_404(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    a, b = await _two_shops(app, client)
    app.state.archive = Archive(str(tmp_path / "analytics.duckdb"))  # the reports read it
    before = await _snapshot(client, b)
    key_id = before["keys"][0]["id"]
    params = {
        "workspace_id": b.id,
        "key_id": key_id,
        "user_id": b.owner.user_id,
        "rule_id": before["rules"][0]["id"],
        "visitor_id": VISITOR,
        "visit_id": VISIT,
        "invitation_id": before["invitations"][0]["id"],
        "conversation_id": before["conversations"]["items"][0]["id"],
        "reply_id": before["canned"][0]["id"],
        "platform": "shopify",
        "slug": "agent.conversations",
    }
    probed = 0
    try:
        await _probe_api(app, client, a, b, params)
        probed = len(_api_routes(app))
    finally:
        app.state.archive.close()
    assert probed >= 10
    assert await _snapshot(client, b) == before
    await _still_theirs(client, a, b)


async def _probe_api(
    app: FastAPI,
    client: httpx.AsyncClient,
    a: factory.Shop,
    b: factory.Shop,
    params: dict[str, Any],
) -> None:
    for method, path, route in _api_routes(app):
        body = _json_body(route, a.owner.email) if method in ("POST", "PATCH", "PUT") else None
        url = _fill(path, params)
        r = await client.request(method, url, json=body, headers=a.owner.headers)
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert r.json()["detail"]["code"] == "not_found", (method, url, r.text)
        # B's answer is the one a workspace that does not exist gets: nothing to probe.
        missing = await client.request(
            method,
            _fill(path, {**params, "workspace_id": MISSING_WS}),
            json=body,
            headers=a.owner.headers,
        )
        assert (missing.status_code, missing.json()) == (r.status_code, r.json()), (method, url)
        if method == "GET":  # the same request by B's owner reaches real data
            ok = await client.get(url, headers=b.owner.headers)
            assert ok.status_code == 200, (url, ok.text)


async def _still_theirs(client: httpx.AsyncClient, a: factory.Shop, b: factory.Shop) -> None:
    # The API key and site key of B still work, the attacker did not join B.
    me = (await client.get("/api/v1/me", headers=a.owner.headers)).json()
    assert [m["workspace_id"] for m in me["memberships"]] == [a.id]
    r = await client.post(
        "/api/v1/track",
        json={
            "visitor_id": "srv",
            "visit_id": "srv",
            "events": [factory.event("identify", {"customer_id": "c-1"})],
        },
        headers={"Authorization": f"Bearer {b.api_key}"},
    )
    assert r.status_code == 200, r.text


async def test_removed_member_loses_access(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, b = await _two_shops(app, client)
    mallory = await factory.user(app, client, "mallory@example.fi", workspace_id=b.id, role="admin")
    ws = f"/api/v1/workspaces/{b.id}"
    assert (await client.get(f"{ws}/api-keys", headers=mallory.headers)).status_code == 200
    r = await client.delete(f"{ws}/members/{mallory.user_id}", headers=b.owner.headers)
    assert r.status_code == 204, r.text
    for url in (ws, f"{ws}/api-keys", f"{ws}/visitors", f"{ws}/members"):
        r = await client.get(url, headers=mallory.headers)
        assert r.status_code == 404, (url, r.text)
    r = await client.patch(ws, json={"name": "Mine"}, headers=mallory.headers)
    assert r.status_code == 404, r.text


async def _page_login(client: httpx.AsyncClient, email: str) -> None:
    r = await client.get("/login")
    assert r.status_code == 200, r.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert csrf is not None
    assert client.cookies.get("kohtaamo_login_csrf") == csrf.group(1)
    r = await client.post(
        "/login", data={"email": email, "password": factory.PASSWORD, "csrf_token": csrf.group(1)}
    )
    assert r.status_code == 303, r.text
    assert client.cookies.get("kohtaamo_session")


def _session_csrf(html: str) -> str:
    tokens: set[str] = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
    assert len(tokens) == 1, tokens
    return tokens.pop()


async def test_other_workspaces_pages_are_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    a, b = await _two_shops(app, client)
    before = await _snapshot(client, b)
    await _page_login(client, a.owner.email)
    r = await client.get(f"/workspaces/{a.id}")
    assert r.status_code == 200, r.text
    csrf = _session_csrf(r.text)
    form = {
        "csrf_token": csrf,
        "name": "Taken over",
        "email": a.owner.email,
        "role": "admin",
        "allowed_origins": "https://evil.example",
        "timezone": "Europe/Helsinki",
        "locale": "en",
        "currency": "USD",
        "condition": "true",
        "message_fi": "Kaapattu",
        "context": "{}",
        "shortcut": "kaapattu",
        "title": "Kaapattu",
        "body": "Kaapattu",
    }
    params = {
        "ws_id": b.id,
        "key_id": before["keys"][0]["id"],
        "inv_id": before["invitations"][0]["id"],
        "rule_id": before["rules"][0]["id"],
        "reply_id": before["canned"][0]["id"],
    }
    keys_a = await client.get(f"/api/v1/workspaces/{a.id}/api-keys", headers=a.owner.headers)
    r = await client.post(
        f"/api/v1/workspaces/{a.id}/invitations",
        json={"email": "dana@example.fi"},
        headers=a.owner.headers,
    )
    rule_a = await client.post(
        f"/api/v1/workspaces/{a.id}/rules",
        json={"name": "A's rule", "condition": True, "action": {"messages": {"fi": "Hei"}}},
        headers=a.owner.headers,
    )
    reply_a = await client.post(
        f"/api/v1/workspaces/{a.id}/canned-replies",
        json={"shortcut": "moi", "locale": "fi", "title": "Moi", "body": "Moi!"},
        headers=a.owner.headers,
    )
    own_params = {
        "ws_id": a.id,
        "key_id": keys_a.json()[0]["id"],
        "inv_id": r.json()["id"],
        "rule_id": rule_a.json()["id"],
        "reply_id": reply_a.json()["id"],
    }
    probed = 0
    for method, path, _route in _page_routes(app):
        url = _fill(path, params)
        data = form if method == "POST" else None
        r = await client.request(method, url, data=data, follow_redirects=False)
        assert r.status_code == 404, (method, url, r.status_code, r.text[:300])
        assert "Shop B" not in r.text
        assert b.site_key not in r.text
        # Control: the same request on A's own workspace is not refused.
        own = await client.request(
            method, _fill(path, own_params), data=data, follow_redirects=False
        )
        assert own.status_code not in (403, 404, 422), (method, path, own.status_code)
        probed += 1
    assert probed >= 4
    assert await _snapshot(client, b) == before


async def test_bs_ids_under_as_own_workspace_are_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Ids are global: B's key, member and visitor ids must not work under A's workspace path."""
    a, b = await _two_shops(app, client)
    before = await _snapshot(client, b)
    ws = f"/api/v1/workspaces/{a.id}"
    h = a.owner.headers
    b_key = before["keys"][0]["id"]
    attempts = [
        ("DELETE", f"{ws}/api-keys/{b_key}", None, "key_id"),
        ("PATCH", f"{ws}/members/{b.owner.user_id}", {"role": "agent"}, "user_id"),
        ("DELETE", f"{ws}/members/{b.owner.user_id}", None, "user_id"),
        ("GET", f"{ws}/visitors/{VISITOR}", None, "visitor_id"),
        ("GET", f"{ws}/visitors/{VISITOR}/visits", None, "visitor_id"),
        ("GET", f"{ws}/visitors/{VISITOR}/events", None, "visitor_id"),
        ("GET", f"{ws}/visitors/{VISITOR}/visits/{VISIT}/live", None, "visit_id"),
    ]
    for method, url, body, field in attempts:
        r = await client.request(method, url, json=body, headers=h)
        assert r.status_code == 404, (method, url, r.text)
        assert r.json()["detail"]["field"] == field, (method, url, r.text)
    assert (await client.get(f"{ws}/visitors", headers=h)).json() == []
    await _page_login(client, a.owner.email)
    csrf = _session_csrf((await client.get(f"/workspaces/{a.id}")).text)
    r = await client.post(
        f"/workspaces/{a.id}/api-keys/{b_key}/revoke",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 404, r.text
    assert await _snapshot(client, b) == before

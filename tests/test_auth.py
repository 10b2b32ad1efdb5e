"""The bearer-token API: logging in, the login rate limit, revoking, and refusing bad tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from kohtaamo.app import create_app
from kohtaamo.auth import service as auth
from kohtaamo.db.engine import transaction
from tests import factory
from tests.conftest import make_settings

TOKEN_URL = "/api/v1/auth/token"


def _detail(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"detail"}, body
    detail: dict[str, Any] = body["detail"]
    assert isinstance(detail["code"], str)
    assert isinstance(detail["message"], str)
    assert detail["message"]
    return detail


async def test_login_returns_a_token_that_works(app: FastAPI, client: httpx.AsyncClient) -> None:
    staff = await factory.user(app, client, "anna@example.fi")
    r = await client.post(
        TOKEN_URL, json={"email": "Anna@Example.fi ", "password": factory.PASSWORD, "label": "ci"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("kat_")
    assert body["access_token"] != staff.token  # every login is a new session
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "anna@example.fi"
    assert me.json()["id"] == staff.user_id
    assert me.json()["memberships"] == []


async def test_wrong_password_and_unknown_email_look_the_same(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await factory.user(app, client, "anna@example.fi")
    wrong = await client.post(TOKEN_URL, json={"email": "anna@example.fi", "password": "nope"})
    unknown = await client.post(
        TOKEN_URL, json={"email": "nobody@example.fi", "password": factory.PASSWORD}
    )
    assert wrong.status_code == 401, wrong.text
    assert unknown.status_code == 401, unknown.text
    assert _detail(wrong)["field"] == "password"
    assert _detail(wrong) == _detail(unknown)
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert "access_token" not in wrong.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": factory.PASSWORD}, "email"),
        ({"email": "not-an-email", "password": factory.PASSWORD}, "email"),
        ({"email": "anna@localhost", "password": factory.PASSWORD}, "email"),
        ({"email": "anna@example.fi"}, "password"),
        ({"email": "anna@example.fi", "password": ""}, "password"),
        ({"email": "anna@example.fi", "password": "x", "admin": True}, "admin"),
    ],
)
async def test_malformed_login_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post(TOKEN_URL, json=body)
    assert r.status_code == 422, r.text
    detail = _detail(r)
    assert detail["code"] == "invalid"
    assert detail["field"] == f"body.{field}"
    assert detail["errors"][0]["field"] == f"body.{field}"
    assert detail["errors"][0]["message"]


async def test_login_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        TOKEN_URL, content=b"email=a", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert _detail(r)["code"] == "invalid"


@pytest.fixture
async def strict_app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, login_attempts_per_window=3))
    async with application.router.lifespan_context(application):
        yield application


async def test_login_attempts_are_rate_limited(strict_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=strict_app, client=("198.51.100.20", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await factory.user(strict_app, c, "anna@example.fi")  # one attempt, a good one
        for _ in range(2):
            r = await c.post(TOKEN_URL, json={"email": "anna@example.fi", "password": "guess-1"})
            assert r.status_code == 401, r.text
        r = await c.post(TOKEN_URL, json={"email": "anna@example.fi", "password": "guess-2"})
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        detail = _detail(r)
        assert detail["code"] == "rate_limited"
        assert detail["retry_after"] == int(r.headers["retry-after"])
        # Even the right password is refused while the limit lasts.
        r = await c.post(TOKEN_URL, json={"email": "anna@example.fi", "password": factory.PASSWORD})
        assert r.status_code == 429, r.text
        # Another account from the same address still has its own allowance.
        r = await c.post(TOKEN_URL, json={"email": "other@example.fi", "password": "guess-1"})
        assert r.status_code == 401, r.text

    # Another address is not punished for the first one's guesses.
    transport = httpx.ASGITransport(app=strict_app, client=("198.51.100.21", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.post(TOKEN_URL, json={"email": "anna@example.fi", "password": factory.PASSWORD})
        assert r.status_code == 201, r.text


async def test_revoked_token_stops_working(app: FastAPI, client: httpx.AsyncClient) -> None:
    staff = await factory.user(app, client, "anna@example.fi")
    other = await client.post(
        TOKEN_URL, json={"email": "anna@example.fi", "password": factory.PASSWORD}
    )
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    r = await client.delete(TOKEN_URL, headers=staff.headers)
    assert r.status_code == 204, r.text
    r = await client.get("/api/v1/me", headers=staff.headers)
    assert r.status_code == 401, r.text
    assert _detail(r)["code"] == "unauthorized"
    r = await client.delete(TOKEN_URL, headers=staff.headers)
    assert r.status_code == 401, r.text
    # Only that token ended: the user's other token still works.
    r = await client.get("/api/v1/me", headers=other_headers)
    assert r.status_code == 200, r.text


async def test_revoking_needs_a_token(client: httpx.AsyncClient) -> None:
    r = await client.delete(TOKEN_URL)
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic YW5uYTpwYXNz",
        "Token kat_abc",
        "Bearer",
        "Bearer ",
        "kat_abc",
    ],
)
async def test_bad_authorization_scheme_is_401(
    app: FastAPI, client: httpx.AsyncClient, authorization: str
) -> None:
    await factory.user(app, client, "anna@example.fi")
    r = await client.get("/api/v1/me", headers={"Authorization": authorization})
    assert r.status_code == 401, r.text
    assert _detail(r)["code"] == "unauthorized"


@pytest.mark.parametrize(
    "token", ["garbage", "kat_", "kat_" + "A" * 43, "kss_" + "A" * 43, "ksk_" + "A" * 43]
)
async def test_garbage_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert _detail(r)["code"] == "unauthorized"


async def test_expired_token_is_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    await factory.user(app, client, "anna@example.fi")
    async with transaction(app.state.sessionmaker) as s:
        user = await auth.get_user_by_email(s, "anna@example.fi")
        assert user is not None
        expired, _ = await auth.start_session(s, user=user, kind="bearer", days=-1)
        fresh, _ = await auth.start_session(s, user=user, kind="bearer", days=1)
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401, r.text
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 200, r.text


async def test_a_cookie_session_token_is_not_a_bearer_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await factory.user(app, client, "anna@example.fi")
    async with transaction(app.state.sessionmaker) as s:
        user = await auth.get_user_by_email(s, "anna@example.fi")
        assert user is not None
        cookie_token, _ = await auth.start_session(s, user=user, kind="cookie", days=1)
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {cookie_token}"})
    assert r.status_code == 401, r.text


async def test_new_token_is_committed_before_the_answer_is_sent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A client may use its token the moment it has it (often on another connection or worker),
    so the login must be committed before the 201 goes out, not after."""
    await factory.user(app, client, "anna@example.fi")
    body = orjson.dumps({"email": "anna@example.fi", "password": factory.PASSWORD})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN_URL,
        "raw_path": TOKEN_URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("203.0.113.9", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False
    seen: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
        elif message["type"] == "http.response.body" and message.get("body"):
            token = orjson.loads(message["body"])["access_token"]
            # What another worker would see at the moment the client reads the answer.
            seen["token"] = token
            async with app.state.sessionmaker() as s:
                seen["principal"] = await auth.resolve(s, token, kind="bearer")

    await app(scope, receive, send)
    assert seen["status"] == 201
    async with app.state.sessionmaker() as s:  # the token itself is good once the app returns
        assert await auth.resolve(s, seen["token"], kind="bearer") is not None
    assert seen["principal"] is not None, "the 201 was sent before the session was committed"

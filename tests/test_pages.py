"""The HTML pages: login with CSRF, language, workspace settings, escaping, logout, `next`."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.app import create_app
from tests import factory
from tests.conftest import make_settings

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


def _csrf(html: str) -> str:
    tokens = set(CSRF_INPUT.findall(html))
    assert len(tokens) == 1, tokens
    token: str = tokens.pop()
    assert token
    return token


async def _login_form(client: httpx.AsyncClient, url: str = "/login") -> str:
    r = await client.get(url)
    assert r.status_code == 200, r.text
    token = _csrf(r.text)
    assert client.cookies.get("kohtaamo_login_csrf") == token
    return token


async def _log_in(client: httpx.AsyncClient, email: str, **extra: str) -> httpx.Response:
    token = await _login_form(client)
    data = {"email": email, "password": factory.PASSWORD, "csrf_token": token, **extra}
    return await client.post("/login", data=data)


def _as_browser_would(location: str) -> str:
    """Scheme and host a browser goes to: it drops tabs and newlines and reads \\ as /."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    parts = urlsplit(urljoin("http://testserver/login", cleaned))
    return f"{parts.scheme}://{parts.netloc}"


async def test_login_page_is_finnish_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/login")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-language"] == "fi"
    assert '<html lang="fi">' in r.text
    assert "Kirjaudu" in r.text
    assert "Salasana" in r.text
    assert "Password" not in r.text


async def test_login_page_speaks_english_when_asked(client: httpx.AsyncClient) -> None:
    r = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.headers["content-language"] == "en"
    assert "Log in" in r.text
    assert "Password" in r.text
    assert "Salasana" not in r.text
    r = await client.get("/login", headers={"Accept-Language": "sv-SE, en;q=0.5"})
    assert r.headers["content-language"] == "en"


async def test_language_choice_sticks(client: httpx.AsyncClient) -> None:
    r = await client.post("/lang", data={"lang": "en", "next": "/login"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert client.cookies.get("kohtaamo_lang") == "en"
    r = await client.get("/login", headers={"Accept-Language": "fi"})
    assert r.headers["content-language"] == "en"
    assert "Log in" in r.text
    r = await client.post("/lang", data={"lang": "fi", "next": "/login"})
    assert r.status_code == 303
    assert "Kirjaudu" in (await client.get("/login")).text
    r = await client.post("/lang", data={"lang": "de"})
    assert r.status_code == 422


async def test_login_needs_the_form_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    await factory.user(app, client, "anna@example.fi")
    token = await _login_form(client)
    for sent in ("wrong-token", "", token + "x"):
        r = await client.post(
            "/login",
            data={"email": "anna@example.fi", "password": factory.PASSWORD, "csrf_token": sent},
        )
        assert r.status_code == 403, r.text
        assert r.json()["detail"]["field"] == "csrf_token"
        assert "kohtaamo_session" not in client.cookies
    # The cookie half of the pair is needed too.
    client.cookies.clear()
    r = await client.post(
        "/login",
        data={"email": "anna@example.fi", "password": factory.PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 403, r.text


async def test_wrong_password_shows_the_error(app: FastAPI, client: httpx.AsyncClient) -> None:
    await factory.user(app, client, "anna@example.fi")
    token = await _login_form(client)
    r = await client.post(
        "/login",
        data={"email": "anna@example.fi", "password": "wrong-password", "csrf_token": token},
    )
    assert r.status_code == 401
    assert "Väärä sähköposti tai salasana." in r.text
    assert 'value="anna@example.fi"' in r.text  # the email is kept, the password is not
    assert "wrong-password" not in r.text
    assert "kohtaamo_session" not in client.cookies
    assert _csrf(r.text) == token  # the form can be sent again as it is
    r = await client.post(
        "/login",
        data={"email": "anna@example.fi", "password": factory.PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 303


async def test_login_lands_on_the_workspace_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client, "Pyöräliike", owner_email="anna@example.fi")
    r = await _log_in(client, "anna@example.fi")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/workspaces"
    assert (client.cookies.get("kohtaamo_session") or "").startswith("kss_")
    assert "kohtaamo_login_csrf" not in client.cookies
    set_cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    session_cookie = next(c for c in set_cookie if c.startswith("kohtaamo_session="))
    assert "httponly" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower()
    r = await client.get("/workspaces")
    assert r.status_code == 200
    assert "Pyöräliike" in r.text
    assert f'href="/workspaces/{shop.id}"' in r.text
    r = await client.get(f"/workspaces/{shop.id}")
    assert r.status_code == 200
    assert shop.site_key in r.text
    # After login the pages speak the user's own language (English for this user).
    assert r.headers["content-language"] == "en"
    assert client.cookies.get("kohtaamo_lang") == "en"
    assert "owner" in r.text


async def test_pages_need_a_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    r = await client.get("/workspaces")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    r = await client.get(f"/workspaces/{shop.id}")
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/workspaces/{shop.id}"
    # A bearer token identifies the user on pages too; a bad one is refused, not ignored.
    r = await client.get("/workspaces", headers=shop.owner.headers)
    assert r.status_code == 200
    r = await client.get("/workspaces", headers={"Authorization": "Bearer kat_nothing"})
    assert r.status_code == 401


async def test_settings_form_needs_the_session_csrf(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop = await factory.shop(app, client, owner_email="anna@example.fi")
    assert (await _log_in(client, "anna@example.fi")).status_code == 303
    page = await client.get(f"/workspaces/{shop.id}")
    csrf = _csrf(page.text)
    form = {
        "name": "Uusi nimi",
        "allowed_origins": "https://Uusi.Example/\nhttps://shop.example",
        "timezone": "Europe/Stockholm",
        "locale": "en",
        "currency": "sek",
    }
    r = await client.post(f"/workspaces/{shop.id}/settings", data=form)
    assert r.status_code == 403, r.text
    r = await client.post(f"/workspaces/{shop.id}/settings", data={**form, "csrf_token": "csrf_x"})
    assert r.status_code == 403, r.text
    ws = (await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)).json()
    assert ws["name"] == "Kauppa"

    r = await client.post(
        f"/workspaces/{shop.id}/settings", data={**form, "csrf_token": csrf}, follow_redirects=True
    )
    assert r.status_code == 200, r.text
    assert r.url.path == f"/workspaces/{shop.id}"
    assert "Saved." in r.text
    assert "Uusi nimi" in r.text
    ws = (await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)).json()
    assert ws["name"] == "Uusi nimi"
    assert ws["allowed_origins"] == ["https://uusi.example", "https://shop.example"]
    assert (ws["timezone"], ws["locale"], ws["currency"]) == ("Europe/Stockholm", "en", "SEK")
    # The header works in place of the form field (for scripts on the page).
    r = await client.post(
        f"/workspaces/{shop.id}/settings",
        data={**form, "name": "Kolmas"},
        headers={"X-CSRF-Token": csrf},
        follow_redirects=True,
    )
    assert r.status_code == 200, r.text
    assert "Kolmas" in r.text


async def test_bad_settings_are_shown_not_saved(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client, owner_email="anna@example.fi")
    assert (await _log_in(client, "anna@example.fi")).status_code == 303
    csrf = _csrf((await client.get(f"/workspaces/{shop.id}")).text)
    r = await client.post(
        f"/workspaces/{shop.id}/settings",
        data={"name": "X", "allowed_origins": "ftp://x", "csrf_token": csrf},
    )
    assert r.status_code == 422
    assert 'role="alert">allowed_origins: ' in r.text
    ws = (await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)).json()
    assert (ws["name"], ws["allowed_origins"]) == ("Kauppa", [factory.ORIGIN])


async def test_agent_cannot_save_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client)
    await factory.user(app, client, "agent@example.fi", workspace_id=shop.id, role="agent")
    assert (await _log_in(client, "agent@example.fi")).status_code == 303
    page = await client.get(f"/workspaces/{shop.id}")
    assert page.status_code == 200
    assert 'id="keys"' not in page.text  # no keys section for agents
    assert shop.api_key[:10] not in page.text
    csrf = _csrf(page.text)
    r = await client.post(
        f"/workspaces/{shop.id}/settings", data={"name": "Mine", "csrf_token": csrf}
    )
    assert r.status_code == 403
    ws = (await client.get(f"/api/v1/workspaces/{shop.id}", headers=shop.owner.headers)).json()
    assert ws["name"] == "Kauppa"


async def test_workspace_name_is_escaped(app: FastAPI, client: httpx.AsyncClient) -> None:
    await factory.user(app, client, "anna@example.fi")
    assert (await _log_in(client, "anna@example.fi")).status_code == 303
    csrf = _csrf((await client.get("/workspaces")).text)
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    r = await client.post("/workspaces", data={"name": evil, "csrf_token": csrf})
    assert r.status_code == 303, r.text
    ws_url = r.headers["location"]
    assert re.fullmatch(r"/workspaces/\d+", ws_url)
    for url in ("/workspaces", ws_url):
        html = (await client.get(url)).text
        assert "<script>alert(1)</script>" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_logout_ends_the_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    await factory.shop(app, client, owner_email="anna@example.fi")
    assert (await _log_in(client, "anna@example.fi")).status_code == 303
    old = client.cookies["kohtaamo_session"]
    csrf = _csrf((await client.get("/workspaces")).text)
    r = await client.post("/logout")
    assert r.status_code == 403  # logging someone out needs the CSRF token too
    r = await client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set("kohtaamo_session", old)  # a copy of the cookie kept by an attacker
    r = await client.get("/workspaces")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    r = await client.get("/api/v1/me")
    assert r.status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/workspaces",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
async def test_next_is_not_an_open_redirect(
    app: FastAPI, client: httpx.AsyncClient, target: str
) -> None:
    await factory.user(app, client, "anna@example.fi")
    r = await _log_in(client, "anna@example.fi", next=target)
    assert r.status_code == 303, r.text
    assert _as_browser_would(r.headers["location"]) == "http://testserver"
    r = await client.post("/lang", data={"lang": "en", "next": target})
    assert r.status_code == 303, r.text
    assert _as_browser_would(r.headers["location"]) == "http://testserver"


async def test_local_next_is_followed(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client, owner_email="anna@example.fi")
    r = await client.get(f"/workspaces/{shop.id}")
    assert r.headers["location"] == f"/login?next=/workspaces/{shop.id}"
    token = await _login_form(client, r.headers["location"])
    r = await client.post(
        "/login",
        data={
            "email": "anna@example.fi",
            "password": factory.PASSWORD,
            "csrf_token": token,
            "next": f"/workspaces/{shop.id}",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/workspaces/{shop.id}"


async def test_new_api_key_is_shown_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await factory.shop(app, client, owner_email="anna@example.fi")
    assert (await _log_in(client, "anna@example.fi")).status_code == 303
    csrf = _csrf((await client.get(f"/workspaces/{shop.id}")).text)
    r = await client.post(
        f"/workspaces/{shop.id}/api-keys",
        data={"name": "erp", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert r.status_code in (200, 201), r.text
    shown = re.search(r'<code class="secret">(ksk_[^<]+)</code>', r.text)
    assert shown is not None, r.text
    again = await client.get(f"/workspaces/{shop.id}")
    assert shown.group(1) not in again.text
    assert "erp" in again.text
    r = await client.post(
        "/api/v1/track",
        json={
            "visitor_id": "v",
            "visit_id": "s",
            "events": [factory.event("identify", {"customer_id": "c-1"})],
        },
        headers={"Authorization": f"Bearer {shown.group(1)}"},
    )
    assert r.status_code == 200, r.text


async def test_api_calls_with_the_session_cookie_need_the_csrf_header(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await factory.user(app, client, "anna@example.fi")
    assert (await _log_in(client, "anna@example.fi")).status_code == 303
    csrf = _csrf((await client.get("/workspaces")).text)
    assert (await client.get("/api/v1/me")).status_code == 200  # reading needs no token
    r = await client.post("/api/v1/workspaces", json={"name": "Forged"})
    assert r.status_code == 403, r.text
    r = await client.post(
        "/api/v1/workspaces", json={"name": "Forged"}, headers={"X-CSRF-Token": "csrf_wrong"}
    )
    assert r.status_code == 403, r.text
    assert (await client.get("/api/v1/me")).json()["memberships"] == []
    r = await client.post(
        "/api/v1/workspaces", json={"name": "Real"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 201, r.text


async def test_login_form_is_rate_limited(database_url: str) -> None:
    app = create_app(make_settings(database_url, login_attempts_per_window=2))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.30", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            token = await _login_form(c)
            data = {"email": "anna@example.fi", "password": "guess", "csrf_token": token}
            for _ in range(2):
                assert (await c.post("/login", data=data)).status_code == 401
            r = await c.post("/login", data=data)
            assert r.status_code == 429
            assert re.search(r"Liian monta yritystä\. Yritä uudelleen \d+ sekunnin", r.text)

"""A person logs in, looks at a workspace, makes an API key, switches language: in real Chromium."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
from kohtaamo.shops import service as shops
from kohtaamo.shops.schemas import WorkspaceCreate
from tests import browser

pytestmark = pytest.mark.browser


async def _seed(url: str) -> int:
    engine = make_engine(url, pool_size=1)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            owner = await auth.create_user(
                s,
                email="omistaja@kauppa.fi",
                name="Olli Omistaja",
                password="salasana-123",
                locale="fi",
            )
            ws = await shops.create_workspace(
                s,
                data=WorkspaceCreate(
                    name="Kamerakauppa <b>Oy</b>", allowed_origins=["https://kamerakauppa.fi"]
                ),
                owner=None,
            )
            await auth.add_member(s, workspace_id=ws.id, user=owner, role=Role.owner)
            return ws.id
    finally:
        await engine.dispose()


def test_owner_logs_in_and_manages_a_workspace(database_url: str) -> None:
    browser.require_chromium()
    ws_id = asyncio.run(_seed(database_url))
    with browser.server(database_url) as base, sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1200, "height": 800}, locale="fi-FI")
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.set_default_timeout(10_000)
        page.goto(base + "/workspaces")
        assert page.url.startswith(base + "/login")  # not logged in: sent to the login page
        assert page.get_by_role("heading", name="Kirjaudu").is_visible()
        browser.shot(page, "login-fi")

        page.get_by_label("Sähköposti").fill("omistaja@kauppa.fi")
        page.get_by_label("Salasana").fill("väärä-salasana")
        page.get_by_role("button", name="Kirjaudu").click()
        assert page.get_by_role("alert").inner_text() == "Väärä sähköposti tai salasana."

        # The refused login is answered 401 on purpose, which Chromium logs; count from here on.
        problems.clear()
        page.get_by_label("Salasana").fill("salasana-123")
        page.get_by_role("button", name="Kirjaudu").click()
        page.wait_for_url(base + "/workspaces")
        # The name is shown as text: the <b> a user typed is not markup.
        page.get_by_text("Kamerakauppa <b>Oy</b>").click()
        page.wait_for_url(f"{base}/workspaces/{ws_id}")
        assert page.locator("b", has_text="Oy").count() == 0
        snippet = page.locator("pre.code").inner_text()
        assert f"{base}/widget.js" in snippet
        assert 'data-site="ks_' in snippet

        page.get_by_label("Avaimen nimi").fill("verkkokaupan-palvelin")
        page.get_by_role("button", name="Uusi avain").click()
        secret = page.locator("code.secret").inner_text()
        assert secret.startswith("ksk_")
        browser.shot(page, "workspace-fi")
        page.reload()  # shown once: a reload (a new GET) no longer shows it
        assert page.locator("code.secret").count() == 0
        assert "verkkokaupan-palvelin" in page.content()

        page.get_by_role("button", name="In English").click()
        assert page.get_by_role("heading", name="Secret API keys").is_visible()
        page.get_by_role("button", name="Revoke").click()
        assert page.locator("tr.revoked").count() == 1
        browser.shot(page, "workspace-en")

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(base + "/login")
        page.goto(base + f"/workspaces/{ws_id}")
        assert "/login" in page.url
        chromium.close()
        assert problems == [], problems


_ = ConsoleMessage  # imported for type readers: console messages are what `problems` collects

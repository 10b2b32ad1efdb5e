"""The widget on a shop page in Chromium: page types by the workspace's patterns, the shop's own
events, identify, keyboard use, and leaving a message when nobody is online."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
from kohtaamo.shops import service as shops
from kohtaamo.shops.schemas import WorkspaceCreate
from tests import browser
from tests.shop import shop_site

pytestmark = pytest.mark.browser


async def _seed(url: str, shop_origin: str) -> tuple[int, str]:
    engine = make_engine(url, pool_size=1)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            owner = await auth.create_user(
                s, email="olli@kauppa.fi", name="Olli", password="salasana-123", locale="fi"
            )
            ws = await shops.create_workspace(
                s,
                data=WorkspaceCreate(name="Kamerakauppa", allowed_origins=[shop_origin]),
                owner=None,
            )
            await auth.add_member(s, workspace_id=ws.id, user=owner, role=Role.owner)
            return ws.id, ws.site_key
    finally:
        await engine.dispose()


def _token(base: str) -> dict[str, str]:
    r = httpx.post(
        base + "/api/v1/auth/token", json={"email": "olli@kauppa.fi", "password": "salasana-123"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _events(
    base: str, h: dict[str, str], ws_id: int, visitor: str, at_least: int = 3
) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(f"{base}/api/v1/workspaces/{ws_id}/visitors/{visitor}/events", headers=h)
        events: list[dict[str, object]] = r.json() if r.status_code == 200 else []
        if len(events) >= at_least or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_widget_tracks_by_patterns_and_leaves_a_message_when_nobody_is_online(
    database_url: str,
) -> None:
    browser.require_chromium()
    with shop_site() as (shop, config):
        ws_id, site_key = asyncio.run(_seed(database_url, shop))
        with browser.server(database_url) as base, sync_playwright() as pw:
            config.update(kohtaamo=base, site_key=site_key)
            h = _token(base)
            r = httpx.put(
                f"{base}/api/v1/workspaces/{ws_id}/widget",
                json={
                    "title": "Kamerakaupan asiakaspalvelu",
                    "color": "#7c3aed",
                    "page_patterns": [{"pattern": "/tuote*", "type": "product"}],
                },
                headers=h,
            )
            assert r.status_code == 200, r.text
            chromium = pw.chromium.launch(
                executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS
            )
            page = chromium.new_page(viewport={"width": 1000, "height": 760}, locale="fi-FI")
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.set_default_timeout(15_000)

            # The shop's product page has no page-type attribute: the pattern decides.
            page.goto(shop + "/tuote/x100vi")
            page.wait_for_function("window.Kohtaamo && window.Kohtaamo.visitorId")
            page.evaluate("Kohtaamo.ready")
            visitor = page.evaluate("Kohtaamo.visitorId")
            page.evaluate("Kohtaamo.identify('asiakas-42')")
            events = _events(base, h, ws_id, visitor)
            by_type = {e["type"]: e for e in events}
            assert by_type["page_view"]["props"]["page_type"] == "product"  # type: ignore[index]
            assert by_type["page_view"]["props"]["url"] == shop + "/tuote/x100vi"  # type: ignore[index]
            assert by_type["cart_add"]["props"]["product_id"] == "x100vi"  # type: ignore[index]
            assert by_type["identify"]["props"]["customer_id"] == "asiakas-42"  # type: ignore[index]

            # Keyboard: the bubble opens the panel, Escape closes it and focus comes back.
            widget = page.locator("#kohtaamo-widget")
            bubble = widget.locator("[data-k=bubble]")
            bubble.focus()
            page.keyboard.press("Enter")
            panel = widget.locator("[data-k=panel]")
            panel.wait_for(state="visible")
            assert panel.get_attribute("role") == "dialog"
            assert "Kamerakaupan asiakaspalvelu" in panel.inner_text()
            page.keyboard.press("Escape")
            panel.wait_for(state="hidden")
            assert widget.evaluate("el => el.shadowRoot.activeElement?.dataset.k") == "bubble"

            # Nobody is online: the widget asks for an email and the message becomes a lead.
            bubble.click()
            email = widget.locator("[data-k=email]")
            email.wait_for(state="visible")
            email.fill("liisa@example.fi")
            widget.locator("[data-k=input]").fill("Soittaisitteko huomenna objektiiveista?")
            widget.locator("[data-k=send]").click()
            widget.locator("[data-k=thanks]").wait_for(state="visible")
            browser.shot(page, "widget-lead-fi")
            leads = httpx.get(
                f"{base}/api/v1/workspaces/{ws_id}/conversations?view=leads", headers=h
            ).json()["items"]
            assert len(leads) == 1
            assert leads[0]["lead_email"] == "liisa@example.fi"
            assert leads[0]["customer_id"] == "asiakas-42"
            assert leads[0]["preview"] == "Soittaisitteko huomenna objektiiveista?"
            chromium.close()
            assert problems == [], problems


def test_widget_keeps_events_through_failures_and_counts_each_once(database_url: str) -> None:
    """The first answers are lost (the server stores the batch, the browser never hears) and the
    next ones fail outright: the widget retries with the same event ids, and each event is
    stored once."""
    browser.require_chromium()
    with shop_site() as (shop, config):
        ws_id, site_key = asyncio.run(_seed(database_url, shop))
        with browser.server(database_url) as base, sync_playwright() as pw:
            config.update(kohtaamo=base, site_key=site_key)
            h = _token(base)
            chromium = pw.chromium.launch(
                executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS
            )
            page = chromium.new_page(locale="fi-FI")
            page.set_default_timeout(20_000)
            attempts: list[str] = []

            def flaky(route: Route) -> None:
                attempts.append(route.request.post_data or "")
                if len(attempts) == 1:
                    # Delivered, but the answer is lost on the way back.
                    route.fetch()
                    route.abort("connectionreset")
                elif len(attempts) == 2:
                    route.abort("connectionrefused")
                else:
                    route.continue_()

            page.route(base + "/api/v1/track", flaky)
            page.goto(shop + "/kori")
            page.wait_for_function("window.Kohtaamo && window.Kohtaamo.visitorId")
            visitor = page.evaluate("Kohtaamo.visitorId")
            deadline = time.monotonic() + 20
            while len(attempts) < 3 and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert len(attempts) >= 3, attempts
            events = _events(base, h, ws_id, visitor, at_least=2)
            # A page view and the shop's cart_add: once each, though sent three times.
            assert sorted(e["type"] for e in events) == ["cart_add", "page_view"]
            ids = {e["id"] for e in events}
            assert len(ids) == 2
            assert all(str(i) in attempts[0] for i in ids)  # the same ids as the first try
            chromium.close()

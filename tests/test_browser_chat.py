"""The whole chat scene in Chromium: a shop page (its own origin, a strict CSP) with the widget, a
cart rule opening the chat, an agent in the console answering with a canned reply, close, rating."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import Page, Playwright, sync_playwright

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.chat import canned
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
from kohtaamo.rules import service as rules
from kohtaamo.rules.schemas import RuleUpdate
from kohtaamo.shops import service as shops
from kohtaamo.shops.schemas import WorkspaceCreate
from tests import browser
from tests.shop import shop_site

pytestmark = pytest.mark.browser
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


async def _seed(url: str, shop_origin: str) -> tuple[int, str]:
    engine = make_engine(url, pool_size=1)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            agent = await auth.create_user(
                s, email="aino@kauppa.fi", name="Aino", password="salasana-123", locale="fi"
            )
            ws = await shops.create_workspace(
                s,
                data=WorkspaceCreate(name="Kamerakauppa", allowed_origins=[shop_origin]),
                owner=None,
            )
            await auth.add_member(s, workspace_id=ws.id, user=agent, role=Role.agent)
            await canned.install_starters(s, ws.id)
            (rule,) = await rules.install_templates(
                s, workspace_id=ws.id, slugs=["cart-idle"], locale="fi"
            )
            # The template waits 90 s; the scene waits 3 s, and nobody is held out as a control.
            await rules.update_rule(
                s,
                rule=rule,
                data=RuleUpdate.model_validate(
                    {
                        "holdout_share": 0,
                        "condition": {
                            "and": [
                                {"==": [{"var": "page.type"}, "cart"]},
                                {">": [{"var": "cart.lines"}, 0]},
                                {">=": [{"var": "page.idle_seconds"}, 3]},
                            ]
                        },
                    }
                ),
            )
            return ws.id, ws.site_key
    finally:
        await engine.dispose()


def _watch(page: Page, problems: list[str]) -> None:
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


def test_cart_rule_opens_chat_agent_answers_closes_and_visitor_rates(database_url: str) -> None:
    browser.require_chromium()
    with shop_site() as (shop, config):
        ws_id, site_key = asyncio.run(_seed(database_url, shop))
        with browser.server(database_url) as base, sync_playwright() as pw:
            config.update(kohtaamo=base, site_key=site_key)
            _scene(pw, base, shop, ws_id)
    conv = _conversation(database_url, ws_id)
    assert conv["rating"] == "up"
    assert conv["rating_comment"] == "Nopea vastaus, kiitos!"
    assert conv["origin"] == "rule"


def _scene(pw: Playwright, base: str, shop: str, ws_id: int) -> None:
    chromium = pw.chromium.launch(executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS)
    problems: list[str] = []

    # The agent signs in and opens the inbox: now someone is online.
    agent = chromium.new_context(viewport={"width": 1360, "height": 860}, locale="fi-FI")
    console = agent.new_page()
    _watch(console, problems)
    console.set_default_timeout(15_000)
    console.goto(base + "/login")
    console.get_by_label("Sähköposti").fill("aino@kauppa.fi")
    console.get_by_label("Salasana").fill("salasana-123")
    console.get_by_role("button", name="Kirjaudu").click()
    console.wait_for_url(base + "/workspaces")
    console.goto(f"{base}/workspaces/{ws_id}/inbox")
    console.locator("#conn[data-state=online]").wait_for()

    # The visitor lands on the cart with a camera in it and does nothing.
    visitor = chromium.new_context(viewport={"width": 1100, "height": 800}, locale="fi-FI")
    shop_page = visitor.new_page()
    _watch(shop_page, problems)
    shop_page.set_default_timeout(20_000)
    shop_page.goto(shop + "/kori")
    widget = shop_page.locator("#kohtaamo-widget")
    panel = widget.locator("[data-k=panel]")
    panel.wait_for(state="visible")  # the cart rule opened it (3 s idle, checked by timer)
    greeting = widget.locator("[data-k=msg]").first
    assert "Jäikö jokin mietityttämään" in greeting.inner_text()
    browser.shot(shop_page, "widget-rule-fi")

    widget.locator("[data-k=input]").fill(f"Onko tämä kamera varastossa? {XSS_IMG} {XSS_SCRIPT}")
    widget.locator("[data-k=send]").click()
    widget.locator("[data-k=msg][data-author=visitor][data-seq]").wait_for()

    # The agent sees it, with the visit's context: the cart page, the camera, the rule.
    row = console.locator(".list .row").first
    row.wait_for()
    row.locator("button").click()
    console.locator("[data-k=msg][data-author=visitor]").wait_for()
    visitor_line = console.locator("[data-k=msg][data-author=visitor] .body").inner_text()
    assert XSS_IMG in visitor_line  # shown as text, never as HTML
    assert XSS_SCRIPT in visitor_line
    console.locator("[data-k=ctx-rule]").wait_for()
    assert "Ei etenemistä ostoskorissa" in console.locator("[data-k=ctx-rule]").inner_text()
    assert "x100vi" in console.locator("[data-k=ctx-cart]").inner_text()
    assert shop + "/kori" in console.locator("[data-k=ctx-page]").inner_text()

    # A canned reply by its shortcut.
    reply = console.locator("[data-k=reply]")
    reply.fill("/toim")
    console.locator("[data-k=canned] li").first.wait_for()
    reply.press("Tab")
    assert reply.input_value().startswith("Toimitamme 1-3 arkipäivässä")
    reply.press("Enter")
    console.locator("[data-k=msg][data-author=agent][data-seq]").wait_for()
    browser.shot(console, "console-fi")

    # The visitor sees the answer.
    answer = widget.locator("[data-k=msg][data-author=agent]")
    answer.wait_for()
    assert answer.inner_text().count("Toimitamme 1-3 arkipäivässä") == 1
    browser.shot(shop_page, "widget-chat-fi")
    _notes_between_replies(console, shop_page)

    # The agent closes; the visitor rates it thumbs up.
    console.locator("[data-k=close]").click()
    rating = widget.locator("[data-k=rating]")
    rating.wait_for(state="visible")
    rating.locator("[data-rate=up]").click()
    widget.locator("[data-k=comment]").fill("Nopea vastaus, kiitos!")
    widget.locator("[data-k=rate-send]").click()
    widget.locator("[data-k=thanks]").wait_for(state="visible")
    browser.shot(shop_page, "widget-rated-fi")

    assert shop_page.evaluate("window.__xss === undefined")
    assert console.evaluate("window.__xss === undefined")
    chromium.close()
    assert problems == [], problems


def _notes_between_replies(console: Page, shop_page: Page) -> None:
    """Issue 12: a note, then replies: the visitor gets each reply once, in order, after a
    reload too; the note box does not stay ticked."""
    widget = shop_page.locator("#kohtaamo-widget")
    lines = widget.locator("[data-k=msg][data-author=agent] .k-text")
    reply, box = console.locator("[data-k=reply]"), console.locator("[data-k=note]")

    def say(text: str, note: bool = False) -> None:
        if note:
            box.check()
        reply.fill(text)
        reply.press("Enter")
        console.locator("[data-k=msg][data-seq]", has_text=text).wait_for()
        assert not box.is_checked()  # a note is one line; the next one is a reply again

    say("Sisäinen: kysyy varastosta", note=True)
    for text in ("Vastaus A", "Vastaus B"):
        say(text)
    widget.locator("[data-k=msg]", has_text="Vastaus B").wait_for()
    first = lines.all_text_contents()
    assert first[1:] == ["Vastaus A", "Vastaus B"], first
    shop_page.reload()
    widget.locator("[data-k=bubble]").click()
    say("Sisäinen: toinen", note=True)
    say("Vastaus C")
    widget.locator("[data-k=msg]", has_text="Vastaus C").wait_for()
    shop_page.wait_for_timeout(500)  # a duplicate or a late replay would land by now
    assert lines.all_text_contents() == [*first, "Vastaus C"]
    assert widget.locator("[data-k=msg]", has_text="Sisäinen").count() == 0


def _conversation(url: str, ws_id: int) -> dict[str, object]:
    async def go() -> dict[str, object]:
        from sqlalchemy import select

        from kohtaamo.chat.models import Conversation

        engine = make_engine(url, pool_size=1)
        try:
            async with transaction(make_sessionmaker(engine)) as s:
                conv = (
                    await s.execute(select(Conversation).where(Conversation.workspace_id == ws_id))
                ).scalar_one()
                return {
                    "rating": conv.rating,
                    "rating_comment": conv.rating_comment,
                    "origin": conv.origin,
                }
        finally:
            await engine.dispose()

    return asyncio.run(go())

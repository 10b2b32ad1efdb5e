"""The demo workspace in browser tests: seeded by the product's own `kohtaamo.demo.seed`, staff
signing in through the login form, and a console watcher that records where each error came from."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import httpx
from playwright.sync_api import ConsoleMessage, Page

from kohtaamo import demo
from kohtaamo.config import load_settings
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction

PASSWORD = "kohtaamo-demo"
OWNER = "owner@demo.kohtaamo.fi"
AGENT = "agent@demo.kohtaamo.fi"


def seed(database_url: str, public_base_url: str = "http://127.0.0.1:8000") -> demo.DemoInfo:
    """The demo workspace, its logins, teams and every rule template (holdout 0.5), as
    `kohtaamo demo` seeds them; its widget origin is `public_base_url` (see `allow_origin`)."""

    async def go() -> demo.DemoInfo:
        settings = load_settings(
            database_url=database_url,
            public_base_url=public_base_url,
            secret_key="browser-test-secret-key-0123456789abcdef",
            environment="test",
        )
        engine = make_engine(database_url, pool_size=1)
        try:
            async with transaction(make_sessionmaker(engine)) as s:
                return await demo.seed(s, settings)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def token(base: str, email: str = OWNER) -> dict[str, str]:
    r = httpx.post(base + "/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def allow_origin(base: str, h: dict[str, str], ws_id: int) -> None:
    """The test server's port is chosen when it starts, after seeding: `kohtaamo demo` seeds with
    the address it then serves on, and this gives the workspace the same."""
    r = httpx.patch(
        f"{base}/api/v1/workspaces/{ws_id}", json={"allowed_origins": [base]}, headers=h
    )
    assert r.status_code == 200, r.text


def login(page: Page, base: str, email: str) -> None:
    """Through the login form; its own submit button (the header's language switch is a form
    with a submit button too)."""
    page.goto(base + "/login")
    form = page.locator("form[action='/login']")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(base + "/workspaces")


@dataclass
class Console:
    """Console errors and uncaught exceptions of the pages it watches, each with its address."""

    problems: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror on {page.url}: {e}"))
        return page

    def _console(self, m: ConsoleMessage) -> None:
        if m.type == "error":
            self.problems.append(f"{m.text} @ {m.location.get('url', '')}")

    def unexplained(self, *explained: str) -> list[str]:
        """Errors not matching any of the `explained` regular expressions."""
        return [p for p in self.problems if not any(re.search(e, p) for e in explained)]


def number(text: str) -> int:
    """A whole number as the pages print it ("1 234", "1,234", "12 %")."""
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"no number in {text!r}"
    return int(digits)

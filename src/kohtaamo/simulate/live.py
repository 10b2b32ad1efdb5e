"""A trickle of live visitors for the running demo: over real HTTP and real websockets, on the real
clock, so the console shows new chats while someone looks at it.

Every so often a visitor arrives at the demo shop, browses, and runs into a problem moment; when
a rule opens the chat, the visitor answers it (from `script`) and keeps the socket open for a few
minutes, so an agent in the console can answer them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from kohtaamo.simulate import script
from kohtaamo.simulate.shop import PRODUCTS

log = logging.getLogger(__name__)
MOMENTS: list[list[tuple[str, dict[str, Any]]]] = [
    [("discount_rejected", {"code": "SYKSY20", "reason": "vanhentunut"})],
    [("payment_failed", {"method": "invoice", "reason": "laskutuspalvelu hylkäsi"})],
    [("login_failed", {"reason": "väärä salasana"})] * 2,
    [("form_error", {"form": "checkout", "field": "postcode"})] * 2,
    [("cart_add_failed", {"product_id": "objektiivi-zoom", "unit_price": 44900})],
]


class Trickle:
    def __init__(
        self,
        base_url: str,
        site_key: str,
        *,
        seed: int = 7,
        think: tuple[float, float] = (4.0, 12.0),  # seconds before answering the rule
        stay: float = 180.0,  # seconds the visitor keeps the chat open for an agent
    ) -> None:
        self.base = base_url.rstrip("/")
        self.site_key = site_key
        self.rng = random.Random(seed)
        self.think = think
        self.stay = stay
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """End the visitors' open chats."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self, *, every: tuple[float, float] = (25.0, 60.0)) -> None:
        async with httpx.AsyncClient(base_url=self.base, headers={"Origin": self.base}) as http:
            while True:  # the server starts beside us
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1)
            while True:
                try:
                    await self.visitor(http)
                except (httpx.HTTPError, OSError, websockets.WebSocketException) as exc:
                    log.warning("demo visitor failed: %r", exc)
                await asyncio.sleep(self.rng.uniform(*every))

    async def visitor(self, http: httpx.AsyncClient) -> None:
        visitor, visit = f"v-live-{uuid.uuid4().hex[:12]}", f"s-{uuid.uuid4().hex[:12]}"
        locale = "fi" if self.rng.random() < 0.8 else "en"
        item = self.rng.choice(PRODUCTS)
        shop = f"{self.base}/demo-shop"
        steps: list[list[tuple[str, dict[str, Any]]]] = [
            [("page_view", {"url": shop, "page_type": "landing"})],
            [("page_view", {"url": f"{shop}/tuote/{item.id}", "page_type": "product",
                            "product_id": item.id, "category": item.category})],
            [("cart_add", {"product_id": item.id, "category": item.category, "unit_price": item.price})],
            [("page_view", {"url": f"{shop}/kori", "page_type": "cart"})],
            self.rng.choice(MOMENTS),
        ]  # fmt: skip
        for events in steps:
            answer = await self.track(http, visitor, visit, events)
            for action in answer.get("actions", []):
                # Nobody online: the widget offers to leave a message (a lead for the inbox).
                if action.get("mode") in ("chat", "leave_message") and action.get("exposure_id"):
                    self.spawn(self.answer(visitor, visit, action, locale))
                    return
            await asyncio.sleep(self.rng.uniform(*self.think) / 2)

    async def track(
        self,
        http: httpx.AsyncClient,
        visitor: str,
        visit: str,
        events: list[tuple[str, dict[str, Any]]],
    ) -> dict[str, Any]:
        now = int(time.time() * 1000)
        body = {
            "site_key": self.site_key, "visitor_id": visitor, "visit_id": visit, "sent_at": now,
            "events": [{"id": str(uuid.uuid4()), "type": t, "ts": now + i, "props": p}
                       for i, (t, p) in enumerate(events)],
        }  # fmt: skip
        r = await http.post("/api/v1/track", json=body)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, visitor: str, visit: str, action: dict[str, Any], locale: str) -> None:
        """Answer the rule's message over the visitor socket, then stay a while for the agent."""
        first, _ = script.visitor_lines(None, locale)
        query = urlencode({"site_key": self.site_key, "visitor_id": visitor, "visit_id": visit})
        url = self.base.replace("http", "ws", 1) + f"/ws/visitor?{query}"
        try:
            async with websockets.connect(url, additional_headers={"Origin": self.base}) as ws:
                await asyncio.sleep(self.rng.uniform(*self.think))  # reads the message, types
                frame = {
                    "type": "message",
                    "client_id": str(uuid.uuid4()),
                    "body": _reply(action, locale, first),
                    "exposure_id": action["exposure_id"],
                }
                if action.get("mode") == "leave_message":
                    frame["email"] = f"{visitor[-6:]}@example.com"
                await ws.send(json.dumps(frame))
                deadline = time.monotonic() + self.stay
                thanked = False
                while time.monotonic() < deadline:
                    try:
                        got = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                    except TimeoutError:
                        await ws.send(json.dumps({"type": "ping"}))
                        continue
                    if (
                        got.get("type") == "message"
                        and got.get("author") == "agent"
                        and not thanked
                    ):
                        # The agent answered: the visitor thanks them once, as people do.
                        thanked = True
                        await asyncio.sleep(self.rng.uniform(*self.think))
                        thanks = script.SPONTANEOUS[locale][1]
                        await ws.send(
                            json.dumps(
                                {"type": "message", "client_id": str(uuid.uuid4()), "body": thanks}
                            )
                        )
        except (OSError, websockets.WebSocketException) as exc:
            log.warning("demo visitor's chat failed: %r", exc)


def _reply(action: dict[str, Any], locale: str, fallback: str) -> str:
    """What the visitor answers to the rule's message: the line for its problem when known."""
    text = str(action.get("message") or "").casefold()
    for slug, key in (
        ("discount-code-rejected", "koodi"),
        ("invoice-payment-failed", "lasku"),
        ("login-or-registration-failed", "kirjaudu"),
        ("form-field-error-twice", "kenttä"),
        ("cart-add-failed", "kori"),
    ):
        if key in text:
            return script.visitor_lines(slug, locale)[0]
    return fallback

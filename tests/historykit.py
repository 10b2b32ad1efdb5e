"""A seeded shop history for recomputing the reports (tests/test_recomputed_reports.py), built
through the public API (/track with identify and purchase, /orders, refunds, cancel) and the
chat service, with the generator's own record of everything it sent. Nothing here reads the
product's reports or the archive."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from kohtaamo.chat import lifecycle
from kohtaamo.chat import service as chat
from kohtaamo.db.engine import transaction
from kohtaamo.kit.clock import travel
from kohtaamo.shops.directory import Site
from tests import factory as f
from tests import rulekit as rk

WEEK = 7 * 86400


@dataclass
class Ev:
    visitor: str
    visit: str
    type: str
    t: float


@dataclass
class Order:
    oid: str
    customer: str | None
    visitor: str | None
    total: int
    placed: float
    refunded: int = 0
    cancelled: bool = False


@dataclass
class Chat:
    id: int
    visitor: str
    t: float
    rule_id: int | None
    rating: str | None = None


@dataclass
class Exposure:  # a decision, as /rules/{id}/exposures lists it
    id: int
    rule_id: int
    visitor: str
    visit: str
    t: float
    outcome: str
    variant: str | None
    reason: str | None


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    shop: f.Shop
    clock: rk.Clock
    rng: random.Random
    rules: dict[str, int] = field(default_factory=dict)  # "cart" / "product" -> rule id
    events: list[Ev] = field(default_factory=list)
    identified: dict[tuple[str, str], str] = field(default_factory=dict)  # visit -> customer
    orders: dict[str, Order] = field(default_factory=dict)
    chats: list[Chat] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)

    @property
    def key(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.shop.api_key}"}

    async def send(self, visitor: str, visit: str, type_: str, props: dict[str, Any]) -> None:
        body = f.batch(
            self.shop, [f.event(type_, props, ts=self.clock.ms())], visitor=visitor, visit=visit
        )
        r = await f.track(self.client, body)
        assert r.status_code == 200, r.text
        self.events.append(Ev(visitor, visit, type_, self.clock.t))
        if type_ == "identify":
            self.identified[(visitor, visit)] = props["customer_id"]
        self.clock.advance(1)  # every event at its own second: "the last" is never a tie

    async def identify(self, visitor: str, visit: str, customer: str) -> None:
        await self.send(visitor, visit, "identify", {"customer_id": customer})

    async def page(self, visitor: str, visit: str, page_type: str) -> None:
        url = f"https://shop.example/{page_type}/{self.rng.randrange(100)}"
        await self.send(visitor, visit, "page_view", {"url": url, "page_type": page_type})
        self.clock.advance(self.rng.randrange(5, 120))

    async def cart_add(self, visitor: str, visit: str) -> None:
        line = {"product_id": f"p{self.rng.randrange(20)}", "quantity": 1, "unit_price": 1990}
        await self.send(visitor, visit, "cart_add", line)

    async def order(
        self, oid: str, total: int, *, at: float | None = None, customer: str | None = None,
        visitor: str | None = None,
    ) -> Order:  # fmt: skip
        """A server-only order (no purchase event), at `at` (default the clock)."""
        placed = self.clock.t if at is None else at
        body: dict[str, Any] = {"order_id": oid, "total": total, "currency": "EUR"}
        body |= {"created_at": f.at_iso(placed)}
        if customer:
            body["customer_id"] = customer
        if visitor:
            body["visitor_id"] = visitor
        r = await self.client.post("/api/v1/orders", json=body, headers=self.key)
        assert r.status_code == 201, r.text
        self.orders[oid] = Order(oid, customer, visitor, total, placed)
        return self.orders[oid]

    async def purchase(
        self, oid: str, seen: int, total: int, visitor: str, visit: str, customer: str | None = None
    ) -> Order:
        """The widget's purchase event, then the shop's server confirming it a minute later with
        its own total (the server's values win; the order is placed when the widget saw it)."""
        placed = self.clock.t
        await self.send(visitor, visit, "purchase", {"order_id": oid, "value": seen,
                                                     "currency": "EUR"})  # fmt: skip
        customer = customer or self.identified.get((visitor, visit))
        body: dict[str, Any] = {"order_id": oid, "total": total, "currency": "EUR",
                                "visitor_id": visitor, "created_at": f.at_iso(placed + 60)}  # fmt: skip
        if customer:
            body["customer_id"] = customer
        r = await self.client.post("/api/v1/orders", json=body, headers=self.key)
        assert r.status_code == 200, r.text  # the same order, confirmed
        self.orders[oid] = Order(oid, customer, visitor, total, placed)
        return self.orders[oid]

    async def refund(self, oid: str, amount: int) -> None:
        r = await self.client.post(
            f"/api/v1/orders/{oid}/refunds",
            json={"refund_id": f"{oid}-r", "amount": amount},
            headers=self.key,
        )
        assert r.status_code in (200, 201), r.text
        self.orders[oid].refunded += amount

    async def cancel(self, oid: str) -> None:
        r = await self.client.post(f"/api/v1/orders/{oid}/cancel", headers=self.key)
        assert r.status_code == 200, r.text
        self.orders[oid].cancelled = True

    async def chat(
        self, visitor: str, visit: str, exposure_id: int | None = None, rating: str | None = None
    ) -> Chat:
        """A conversation the visitor opens; closed and rated 👍/👎 when `rating` is given."""
        site = Site(self.shop.id, (), "Europe/Helsinki", "fi", "EUR")
        with travel(self.clock):  # the conversation opens at the history's time
            async with transaction(self.app.state.sessionmaker) as s:
                said = await chat.visitor_says(
                    s, site=site, presence=self.app.state.presence, visitor_key=visitor,
                    visit_key=visit, body="Onko tätä punaisena?", client_id=f"{visitor}-{visit}",
                    exposure_id=exposure_id,
                )  # fmt: skip
                conv_id, rule_id = said.conv.id, said.conv.rule_id
                if rating is not None:
                    presence = self.app.state.presence
                    await lifecycle.resolve(s, said.conv, presence=presence)
                    await lifecycle.rate(s, said.conv, value=rating, comment=None)
        self.chats.append(Chat(conv_id, visitor, self.clock.t, rule_id, rating))
        self.clock.advance(30)
        return self.chats[-1]

    async def read_exposures(self) -> list[Exposure]:
        """The decisions (not a report): every exposure of both rules, suppressed ones too."""
        out = []
        for rule_id in self.rules.values():
            for x in await rk.exposures(self.client, self.shop, rule_id):
                at = datetime.fromisoformat(x["at"]).timestamp()
                out.append(Exposure(x["id"], rule_id, x["visitor_id"], x["visit_id"], at,
                                    x["outcome"], x["variant"], x["reason"]))  # fmt: skip
        self.exposures = sorted(out, key=lambda x: x.id)
        return self.exposures


async def build(app: FastAPI, client: httpx.AsyncClient, day0: datetime, seed: int) -> World:
    clock = rk.use_clock(app)
    clock.t = day0.timestamp()
    shop = await f.shop(app, client)
    w = World(app, client, shop, clock, random.Random(seed))
    variants = [{"key": k, "weight": 1, "messages": {"fi": f"Hei {k}", "en": f"Hi {k}"}}
                for k in ("A", "B")]  # fmt: skip
    for page_type, name in (("cart", "Kori"), ("product", "Tuote")):
        rule = await rk.create(
            client, shop, name=name, condition={"==": [{"var": "page.type"}, page_type]},
            holdout_share=0.5, seed=f"recompute-{page_type}",
            **({"variants": variants} if page_type == "product" else {}),
        )  # fmt: skip
        w.rules[page_type] = rule["id"]
    rng = w.rng
    n = 0

    async def browse(visitor: str, visit: str) -> None:
        """Pages of a visit: a landing page, then the rules' pages at random (each at most once
        in the visit: one decision per rule and visit)."""
        await w.page(visitor, visit, "landing")
        for page_type in rng.sample(["product", "cart"], k=rng.randrange(3)):
            await w.page(visitor, visit, page_type)
            if page_type == "cart" and rng.random() < 0.5:
                await w.cart_add(visitor, visit)

    async def buy(oid: str, visitor: str, visit: str, customer: str | None) -> None:
        total = rng.randrange(10, 200) * 100
        if rng.random() < 0.5:
            await w.purchase(oid, total - 100, total, visitor, visit)
        elif customer and rng.random() < 0.5:
            await w.order(oid, total, customer=customer)  # no device at all
        else:
            await w.order(oid, total, customer=customer, visitor=visitor)
        w.clock.advance(30)

    # Random persons: anonymous devices, customers on one device, customers on two devices who
    # meet the rules on the phone (anonymous) and the laptop (identified) in either order.
    for i in range(48):
        clock.t = day0.timestamp() + i * 3600
        kind = rng.choice(["anon", "anon", "anon", "one", "two"])
        if kind == "anon":
            v = f"anon-{i}"
            await browse(v, f"{v}-1")
            if rng.random() < 0.4:
                await buy(f"o-{i}", v, f"{v}-1", None)
            if rng.random() < 0.3:  # back later
                clock.advance(rng.randrange(600, 7200))
                await browse(v, f"{v}-2")
        elif kind == "one":
            v, c = f"dev-{i}", f"cust-{i}"
            await w.identify(v, f"{v}-1", c)
            await browse(v, f"{v}-1")
            if rng.random() < 0.6:
                await buy(f"o-{i}", v, f"{v}-1", c)
        else:
            phone, laptop, c = f"phone-{i}", f"laptop-{i}", f"cust-{i}"
            order = [phone, laptop] if rng.random() < 0.5 else [laptop, phone]
            for d in order:
                if d == laptop:
                    await w.identify(d, f"{d}-1", c)
                await browse(d, f"{d}-1")
                clock.advance(rng.randrange(60, 3000))
            await w.identify(phone, f"{phone}-2", c)  # the phone logs in later
            await w.page(phone, f"{phone}-2", "landing")
            if rng.random() < 0.7:
                d = rng.choice([phone, laptop])
                await buy(f"o-{i}", d, f"{phone}-2" if d == phone else f"{laptop}-1", c)
        n = i
    clock.t = day0.timestamp() + (n + 1) * 3600
    await specials(w)
    return w


async def specials(w: World) -> None:
    """The cases the issue names, each at least once whatever the seed."""
    # A shared computer: A logs in and buys (server only); later B logs in and buys (widget).
    # A's phone met the product rule anonymously before, and logs in afterwards.
    await w.page("a-phone", "ap-1", "product")
    await w.identify("shared-pc", "sh-1", "cust-A")
    await w.page("shared-pc", "sh-1", "cart")
    await w.order("o-shared-a", 4200, customer="cust-A", visitor="shared-pc")
    await w.identify("shared-pc", "sh-2", "cust-B")
    await w.page("shared-pc", "sh-2", "product")
    await w.purchase("o-shared-b", 3000, 3100, "shared-pc", "sh-2")
    await w.identify("a-phone", "ap-2", "cust-A")
    await w.page("a-phone", "ap-2", "landing")
    # Orders on the window's edge of the cart rule: e + 7 days - 1 s (inside), e + 7 days
    # (outside), and one a second after the exposure (the widget saw it, the server confirmed).
    for who in ("edge-in", "edge-out", "quick"):
        await w.page(who, f"{who}-1", "cart")
    xs = {x.visitor: x for x in await w.read_exposures() if x.rule_id == w.rules["cart"]}
    await w.order("o-edge-in", 5100, visitor="edge-in", at=xs["edge-in"].t + WEEK - 1)
    await w.order("o-edge-out", 5200, visitor="edge-out", at=xs["edge-out"].t + WEEK)
    w.clock.t = xs["quick"].t + 1
    await w.purchase("o-quick", 900, 950, "quick", "quick-1")
    # An anonymous purchase the server reports with a customer id: the order links the device.
    await w.page("late-login", "ll-1", "cart")
    await w.purchase("o-late-login", 4000, 4400, "late-login", "ll-1", customer="cust-L")
    # A cancellation (its purchase event stays) and a refund.
    await w.page("canceller", "ca-1", "product")
    await w.purchase("o-cancel", 7000, 7000, "canceller", "ca-1")
    await w.cancel("o-cancel")
    await w.identify("refunder", "rf-1", "cust-R")
    await w.page("refunder", "rf-1", "cart")
    await w.order("o-refund", 8000, customer="cust-R", visitor="refunder")
    await w.refund("o-refund", 2500)
    # Chats: one the cart rule opened (a fired exposure answered), one on a customer's phone,
    # then orders after them.
    fired = [x for x in await w.read_exposures() if x.outcome == "fired"
             and x.rule_id == w.rules["cart"] and x.visitor.startswith("anon-")]  # fmt: skip
    x = fired[0]
    await w.chat(x.visitor, x.visit, exposure_id=x.id, rating="up")
    await w.order("o-chat-1", 6100, visitor=x.visitor)
    w.clock.advance(3600)
    await w.page(x.visitor, f"{x.visitor}-9", "landing")  # back after the order: retained
    await w.identify("chat-phone", "cp-1", "cust-C")
    await w.page("chat-phone", "cp-1", "product")
    await w.chat("chat-phone", "cp-1", rating="down")
    # A visitor talking with the shop meets a rule: suppressed (chat_open), in neither arm.
    await w.page("talker", "tk-1", "landing")
    await w.chat("talker", "tk-1")
    with travel(w.clock):  # "going on" is judged by the history's time, as the chat opened
        await w.page("talker", "tk-1", "cart")
    await w.order("o-chat-2", 2300, customer="cust-C")
    w.clock.advance(60)
    await w.read_exposures()

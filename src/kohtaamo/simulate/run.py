"""The simulation: visitors' journeys played in time order through the product's own API and chat
services, on a moved clock. Deterministic for a seed (given the same rules and agents)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from kohtaamo.auth.models import Membership, User
from kohtaamo.chat import lifecycle
from kohtaamo.chat import service as chat
from kohtaamo.chat.models import Conversation
from kohtaamo.db.engine import transaction
from kohtaamo.realtime.presence import AgentState
from kohtaamo.rules.models import Rule
from kohtaamo.shops.directory import Site
from kohtaamo.simulate import script
from kohtaamo.simulate.asgi import AsgiClient
from kohtaamo.simulate.people import Agent, Left, Person, Summary
from kohtaamo.simulate.shop import EFFECT, PROBLEMS, PRODUCTS, Product

DAY = 86400.0
URL = "https://demo.kohtaamo.fi"
CATEGORIES = sorted({p.category for p in PRODUCTS})
REPLY = 0.16  # of the rules' chat messages, the share a visitor answers
BROWSE_ONLY = 0.74  # of new visitors, the share who look at a page or two and leave


class Simulation:
    def __init__(
        self,
        app: FastAPI,
        client: AsgiClient,
        *,
        site_key: str,
        api_key: str,
        agents: list[Agent],
        seed: int,
        reply: float = REPLY,
    ) -> None:
        self.app = app
        self.client = client
        self.site_key = site_key
        self.api_key = api_key
        self.agents = {a.user_id: a for a in agents}
        self.rng = random.Random(seed)
        self.seed = seed
        self.reply = reply
        self.t = 0.0
        self.summary = Summary()
        self.slugs: dict[int, str] = {}
        self._orders = 0
        self._site: Site | None = None
        self.due: float | None = None  # when the widget's timer asks /decide again
        self.lift = 1.0  # this visit's multiplier on buying: what the rules and agents did

    def now(self) -> float:
        return self.t

    def wait(self, low: float, high: float) -> None:
        self.t += self.rng.uniform(low, high)

    # --- the product's API ------------------------------------------------------------------

    async def send(
        self, p: Person, visit: str, events: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        body = {
            "site_key": self.site_key,
            "visitor_id": p.visitor_key,
            "visit_id": visit,
            "sent_at": int(self.t * 1000),
            "events": [
                {"id": str(uuid.UUID(int=self.rng.getrandbits(128))), "type": kind,
                 "ts": int(self.t * 1000) + i, "props": props}
                for i, (kind, props) in enumerate(events)
            ],
        }  # fmt: skip
        r = await self.client.post("/api/v1/track", json=body)
        self.summary.requests += 1
        if r.status_code != 200:
            raise RuntimeError(f"/track answered {r.status_code}: {r.text}")
        out: dict[str, Any] = r.json()
        self._timer(out)
        return out

    def _timer(self, answer: dict[str, Any]) -> None:
        """The widget's timer: `check_in` seconds after an answer it asks /decide again."""
        wait = answer.get("check_in")
        self.due = self.t + float(wait) if isinstance(wait, int | float) else None

    async def timers(self, p: Person, visit: str) -> None:
        """The timers that went off before now (the visitor stayed on the page): what the rules
        said then, on the clock of that moment."""
        for _ in range(5):
            if self.due is None or self.due > self.t:
                return
            now, self.t = self.t, self.due
            await self.react(p, visit, await self.check(p, visit))
            self.t = max(now, self.t)

    async def step(self, p: Person, visit: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        """The visitor does something: the timers due first, then the events and the answer."""
        await self.timers(p, visit)
        await self.react(p, visit, await self.send(p, visit, events))

    async def check(self, p: Person, visit: str) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/decide",
            json={"site_key": self.site_key, "visitor_id": p.visitor_key, "visit_id": visit},
        )
        self.summary.requests += 1
        if r.status_code != 200:
            raise RuntimeError(f"/decide answered {r.status_code}: {r.text}")
        out: dict[str, Any] = r.json()
        self._timer(out)
        return out

    async def order(self, p: Person, visit: str, lines: list[Product]) -> None:
        self._orders += 1
        order_id = f"SIM{self.seed}-{self._orders:06d}"
        total = sum(x.price for x in lines)
        # The widget sees the thank-you page, and the shop's server reports the same order.
        await self.send(p, visit, [
            ("page_view", {"url": f"{URL}/demo-shop/kiitos", "page_type": "checkout"}),
            ("purchase", {"order_id": order_id, "value": total, "currency": "EUR"}),
        ])  # fmt: skip
        r = await self.client.post(
            "/api/v1/orders",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={
                "order_id": order_id,
                "customer_id": p.customer_id,
                "visitor_id": p.visitor_key,
                "total": total,
                "currency": "EUR",
                "created_at": _iso(self.t),
                "lines": [
                    {"product_id": x.id, "category": x.category, "unit_price": x.price}
                    for x in lines
                ],
            },
        )
        if r.status_code not in (200, 201):
            raise RuntimeError(f"/orders answered {r.status_code}: {r.text}")
        self.summary.orders += 1
        self.summary.revenue += total
        if self.rng.random() < 0.06:  # a return: part of the order comes back later
            back = lines[-1].price
            r = await self.client.post(
                f"/api/v1/orders/{order_id}/refunds",
                headers={"Authorization": f"Bearer {self.api_key}"},
                json={"refund_id": f"{order_id}-r1", "amount": back},
            )
            if r.status_code in (200, 201):
                self.summary.refunds += 1
                self.summary.revenue -= back
        p.cart.clear()

    # --- chats ------------------------------------------------------------------------------

    async def site(self) -> Site:
        if self._site is None:
            self._site = await self.app.state.directory.by_site_key(self.site_key)
            assert self._site is not None
        return self._site

    async def chat(self, p: Person, visit: str, exposure_id: int | None, slug: str | None) -> float:
        """Play one conversation; returns a multiplier on buying (what the agent's style earns)."""
        first, follow = script.visitor_lines(slug, p.locale, self.rng)
        maker, presence = self.app.state.sessionmaker, self.app.state.presence
        site = await self.site()
        async with transaction(maker) as s:
            said = await chat.visitor_says(
                s, site=site, presence=presence, visitor_key=p.visitor_key, visit_key=visit,
                body=first, client_id=f"{visit}-1", exposure_id=exposure_id,
                customer_id=p.customer_id,
            )  # fmt: skip
            conv_id, agent_id = said.conv.id, said.conv.assignee_id
        self.summary.chats += said.opened
        agent = self.agents.get(agent_id) if agent_id else None
        if agent is None:
            return 1.0
        answer, closing = script.agent_lines(agent.style, p.locale, self.rng)
        slow = agent.style == "slow"
        self.wait(60, 240) if slow else self.wait(8, 45)
        await self._agent_says(conv_id, agent, answer, f"{visit}-a1")
        self.wait(20, 90)
        async with transaction(maker) as s:
            await chat.visitor_says(
                s, site=site, presence=presence, visitor_key=p.visitor_key, visit_key=visit,
                body=follow, client_id=f"{visit}-2",
            )  # fmt: skip
        self.wait(40, 200) if slow else self.wait(5, 30)
        await self._agent_says(conv_id, agent, closing, f"{visit}-a2")
        async with transaction(maker) as s:
            conv = await s.get(Conversation, conv_id)
            user = await s.get(User, agent.user_id)
            assert conv is not None
            assert user is not None
            await lifecycle.resolve(s, conv, user=user, presence=presence)
            if self.rng.random() < 0.55:
                good = {"closer": 0.9, "helper": 0.85, "slow": 0.45}[agent.style]
                value = "up" if self.rng.random() < good else "down"
                await lifecycle.rate(s, conv, value=value, comment=script.COMMENTS[value][p.locale])
        return {"closer": 1.5, "helper": 1.15, "slow": 0.9}[agent.style]

    async def _agent_says(self, conv_id: int, agent: Agent, body: str, client_id: str) -> None:
        async with transaction(self.app.state.sessionmaker) as s:
            conv = await s.get(Conversation, conv_id)
            user = await s.get(User, agent.user_id)
            assert conv is not None
            assert user is not None
            await chat.agent_says(s, conv=conv, user=user, body=body, client_id=client_id)

    async def react(self, p: Person, visit: str, answer: dict[str, Any]) -> None:
        """The widget shows what the rules decided; the visitor may answer a chat message."""
        for action in answer.get("actions", []):
            slug = self.slugs.get(int(action.get("rule_id", 0)), "custom")
            self.summary.shown += 1
            effect = EFFECT.get(slug, 1.0)
            p.shown[slug] = effect
            if effect < 1 and self.rng.random() > effect:
                raise Left  # the message interrupted them: they close the tab
            self.lift *= max(effect, 1.0)
            if action.get("mode") == "chat" and self.rng.random() < self.reply:
                self.lift *= await self.chat(p, visit, action.get("exposure_id"), slug)

    # --- a visit ----------------------------------------------------------------------------

    async def visit(self, p: Person, number: int) -> None:
        r = self.rng
        visit = f"s-{uuid.UUID(int=r.getrandbits(128)).hex[:16]}"
        self.summary.visits += 1
        self.lift, self.due = 1.0, None
        landing: dict[str, Any] = {"url": f"{URL}/demo-shop", "page_type": "landing"}
        if r.random() < 0.1:
            landing["url"] += "?utm_source=uutiskirje&utm_medium=email&nl=marraskuu"
        first: list[tuple[str, dict[str, Any]]] = [("page_view", landing)]
        if p.customer_id and r.random() < 0.7:
            first.append(("identify", {"customer_id": p.customer_id}))
        await self.step(p, visit, first)
        category = r.choice(CATEGORIES)
        # Most first visits only look around: a page or two, then away (the shop's bounce rate).
        browse_only = not p.cart and p.buy_later == 0 and r.random() < BROWSE_ONLY
        pages = int(r.random() < 0.35) if browse_only else r.choice((1, 1, 2, 3, 4))
        for _ in range(pages):
            self.wait(15, 70)
            item = r.choice([x for x in PRODUCTS if x.category == category] or list(PRODUCTS))
            await self.step(p, visit, [(
                "page_view", {"url": f"{URL}/demo-shop/tuote/{item.id}", "page_type": "product",
                              "product_id": item.id, "category": item.category})])  # fmt: skip
            if not browse_only and r.random() < (0.2 if number == 1 else 0.3):
                self.wait(5, 20)
                event = {"product_id": item.id, "category": item.category, "unit_price": item.price}
                p.cart.append(item)
                await self.step(p, visit, [("cart_add", event)])
        if browse_only:
            return
        if r.random() < self.reply / 8:  # opens the chat themselves (2 % at the usual 16 %)
            self.wait(5, 30)
            await self.timers(p, visit)  # what the widget did first: the clock only goes forward
            self.lift *= await self.chat(p, visit, None, None)
        if r.random() < 0.2:
            self.wait(5, 30)
            await self.step(p, visit, self.problem(p))
        if not p.cart and r.random() > p.buy_later:
            return
        if not p.cart:
            item = r.choice(PRODUCTS)
            p.cart.append(item)
            await self.step(p, visit, [("cart_add", {"product_id": item.id, "category": item.category, "unit_price": item.price})])  # fmt: skip
        self.wait(5, 30)
        await self.step(p, visit, [("page_view", {"url": f"{URL}/demo-shop/kori", "page_type": "cart"})])  # fmt: skip
        if r.random() < 0.85:  # lingers on the cart: the cart rule's timer comes due
            self.wait(95, 140)
            await self.timers(p, visit)
        base = 0.06
        if r.random() < 0.5:
            self.wait(10, 40)
            steps: list[tuple[str, dict[str, Any]]] = [
                ("page_view", {"url": f"{URL}/demo-shop/kassa", "page_type": "checkout"}),
                ("checkout_step", {"step": 1, "name": "toimitus"}),
            ]
            if r.random() < 0.18:
                steps.append(("payment_failed", {"method": "invoice", "reason": "declined"}))
                base = 0.12
            elif r.random() < 0.12:
                steps.append(("discount_rejected", {"code": "SYKSY20", "reason": "expired"}))
                base = 0.18
            else:
                base = 0.3
            await self.step(p, visit, steps)
        chance = min(0.95, max(base, p.buy_later) * self.lift)
        if r.random() < chance:
            self.wait(30, 120)
            await self.order(p, visit, list(p.cart))
            p.buy_later = 0.0
        elif p.visits_left > 0:
            p.buy_later = min(0.9, chance * 1.2)  # thinks it over: likely to buy next time

    def problem(self, p: Person) -> list[tuple[str, dict[str, Any]]]:
        kind = self.rng.choices(list(PROBLEMS), weights=list(PROBLEMS.values()))[0]
        item = self.rng.choice(PRODUCTS)
        twice: dict[str, list[tuple[str, dict[str, Any]]]] = {
            "form_error": [("form_error", {"form": "checkout", "field": "postcode"})] * 2,
            "login_failed": [("login_failed", {"reason": "wrong password"})] * 2,
            "cart_add_failed": [("cart_add_failed", {"product_id": item.id, "unit_price": item.price, "reason": "stock"})],
            "payment_failed": [("payment_failed", {"method": "invoice", "reason": "declined"})],
            "server_error": [("server_error", {"status": 502, "url": f"{URL}/demo-shop/kassa"})],
            "discount_rejected": [("discount_rejected", {"code": "SYKSY20"})],
            "not_found": [("not_found", {"url": f"{URL}/demo-shop/tuote/vanha", "internal": True})],
            "account_locked": [("account_locked", {})],
            "email_already_registered": [("email_already_registered", {})],
        }  # fmt: skip
        return list(twice[kind])

    # --- the whole run ----------------------------------------------------------------------

    async def run(
        self,
        *,
        visitors: int,
        start: float,
        end: float,
        progress: Callable[[str], None] | None = None,
    ) -> Summary:
        r = self.rng
        plan: list[tuple[float, int, Person]] = []
        for i in range(visitors):
            p = Person(
                visitor_key=f"v-{uuid.UUID(int=r.getrandbits(128)).hex[:20]}",
                locale="fi" if r.random() < 0.85 else "en",
                visits_left=r.choices((0, 1, 2), weights=(62, 26, 12))[0],
                customer_id=f"asiakas-{self.seed}-{i}" if r.random() < 0.3 else None,
            )
            at = r.uniform(start, end - 600)
            plan.append((at, 1, p))
            for n in range(p.visits_left):
                at += r.uniform(0.2, 6) * DAY
                if at > end - 600:
                    break  # that visit is still to come
                plan.append((at, n + 2, p))
        plan.sort(key=lambda x: x[0])
        self.summary.visitors = visitors
        step = max(1, len(plan) // 10)
        for i, (at, number, p) in enumerate(plan):
            if i % 15 == 0:  # a new shift
                await self.agents_online()
            if progress and i and i % step == 0:
                progress(f"{100 * i // len(plan)} % of {len(plan)} visits")
            self.t = max(self.t, at)
            if number > 1 and p.customer_id and r.random() < 0.25:
                p.visitor_key = f"v-{uuid.UUID(int=r.getrandbits(128)).hex[:20]}"  # another device
            p.visits_left = max(0, p.visits_left - (number > 1))
            try:
                await self.visit(p, number)
            except Left:
                self.summary.left += 1
        return self.summary

    async def agents_online(self) -> None:
        """A new shift: mostly one agent on duty, sometimes two (routing gives a tie to the
        lower user id, so one at a time spreads the chats)."""
        site = await self.site()
        agents = list(self.agents.values())
        on = self.rng.sample(agents, k=min(len(agents), self.rng.choice((1, 1, 1, 2))))
        for a in agents:
            state = "online" if a in on else "away"
            await self.app.state.presence.set_agent(
                site.workspace_id, AgentState(a.user_id, state, 4, 0)
            )

    async def load_rules(self) -> None:
        site = await self.site()
        async with self.app.state.sessionmaker() as s:
            rows = await s.execute(
                select(Rule.id, Rule.template).where(Rule.workspace_id == site.workspace_id)
            )
            self.slugs = {int(i): t or "custom" for i, t in rows.all()}


async def agents_of(app: FastAPI, workspace_id: int, styles: dict[str, str]) -> list[Agent]:
    """The workspace's members as agents; their style by email (default "helper")."""
    async with app.state.sessionmaker() as s:
        rows = await s.execute(
            select(User.id, User.name, User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id)
        )
        return [Agent(int(i), n, styles.get(e, "helper")) for i, n, e in rows.all()]


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()

"""A small known history for the report pages' figures: two rules with holdouts, a rule chat,
orders on both arms (one cancelled), built through the API and services; and a reader of the
figures the pages mark with `data-fig` (value in `data-v`, the word in `data-label`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi import FastAPI

from kohtaamo.chat import routing
from kohtaamo.chat import service as chat
from kohtaamo.db.engine import transaction
from kohtaamo.kit.clock import utcnow
from kohtaamo.shops.directory import Site
from tests import chatkit as ck
from tests import factory as f
from tests import rulekit as rk


def noon(days_ago: int) -> datetime:
    d = (utcnow() - timedelta(days=days_ago)).date()
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


@dataclass
class Arms:
    rule_id: int
    fired: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    exposure: dict[str, int] = field(default_factory=dict)


@dataclass
class History:
    shop: f.Shop
    day0: datetime
    kori: Arms  # credited with orders its held-out visitors out-buy: earns less than nothing
    tuote: Arms  # credited with less, but its visitors buy more than its holdout
    orders: dict[str, tuple[str, int]]  # order id -> (visitor, total), not cancelled
    cancelled: str


async def _arms(
    client: httpx.AsyncClient, shop: f.Shop, clock: rk.Clock, rule: dict[str, Any], prefix: str,
    page_type: str, fired: int, held: int,
) -> Arms:  # fmt: skip
    """Visitors reach the rule's page until its arms hold at least `fired` and `held` (the arm
    is the engine's choice); every one of them is counted."""
    arms = Arms(rule["id"])
    while len(arms.fired) < fired or len(arms.held) < held:
        assert len(arms.fired) + len(arms.held) < 40, "the arms never filled"
        name = f"{prefix}{len(arms.fired) + len(arms.held):02d}"
        answer = await rk.Visitor(client, shop, clock, visitor=name, visit="a").page(
            f"/{page_type}", page_type
        )
        (arms.fired if rk.fired(answer) == [rule["id"]] else arms.held).append(name)
        clock.advance(1)
    for x in await rk.exposures(client, shop, rule["id"]):
        arms.exposure[x["visitor_id"]] = x["id"]
    return arms


async def history(app: FastAPI, client: httpx.AsyncClient) -> History:
    clock = rk.use_clock(app)
    day0 = noon(3)
    clock.t = day0.timestamp()
    shop = await f.shop(app, client, owner_email="owner@kauppa.fi")
    condition = {"==": [{"var": "page.type"}, "cart"]}
    kori = await rk.create(client, shop, name="Kori", condition=condition, holdout_share=0.5)
    condition = {"==": [{"var": "page.type"}, "product"]}
    tuote = await rk.create(client, shop, name="Tuote", condition=condition, holdout_share=0.5)
    a = await _arms(client, shop, clock, kori, "k", "cart", 3, 3)
    b = await _arms(client, shop, clock, tuote, "t", "product", 3, 3)
    # Kori's first fired visitor answers its message: the rule's one conversation.
    site = Site(shop.id, (), "Europe/Helsinki", "fi", "EUR")
    async with transaction(app.state.sessionmaker) as s:
        said = await chat.visitor_says(
            s, site=site, presence=app.state.presence, visitor_key=a.fired[0], visit_key="a",
            body="Onko tätä punaisena?", client_id="k-c0", exposure_id=a.exposure[a.fired[0]],
        )  # fmt: skip
        await routing.assign(s, said.conv, user_id=shop.owner.user_id)
    orders = {
        "o-k1": (a.fired[0], 10000),  # Kori's shown visitors buy little ...
        "o-k2": (a.fired[1], 10000),
        "o-k3": (a.held[0], 50000),  # ... its held-out ones a lot
        "o-k4": (a.held[1], 50000),
        "o-t1": (b.fired[0], 8000),  # Tuote's shown visitor buys; its holdout does not
    }
    key = {"Authorization": f"Bearer {shop.api_key}"}
    for order_id, (visitor, total) in {**orders, "o-x": (b.fired[1], 7000)}.items():
        body = {
            "order_id": order_id, "total": total, "currency": "EUR", "visitor_id": visitor,
            "created_at": (day0 + timedelta(days=1)).isoformat(),
        }  # fmt: skip
        r = await client.post("/api/v1/orders", json=body, headers=key)
        assert r.status_code == 201, r.text
    r = await client.post("/api/v1/orders/o-x/cancel", headers=key)
    assert r.status_code == 200, r.text
    client.cookies.set("kohtaamo_session", await ck.cookie(app, shop.owner.user_id))
    client.cookies.set("kohtaamo_lang", "fi")
    return History(shop, day0, a, b, orders, "o-x")


def rpv_welch(shown: list[int], held: list[int]) -> tuple[float, float, float]:
    """(difference, low, high) of mean revenue per visitor, Welch's 95 % interval, by hand."""
    from scipy import stats as sps  # the reference, not the product's own code

    ma, mb = sum(shown) / len(shown), sum(held) / len(held)
    va = sum((x - ma) ** 2 for x in shown) / (len(shown) - 1) / len(shown)
    vb = sum((x - mb) ** 2 for x in held) / (len(held) - 1) / len(held)
    df = (va + vb) ** 2 / (va**2 / (len(shown) - 1) + vb**2 / (len(held) - 1))
    half = float(sps.t.ppf(0.975, df)) * math.sqrt(va + vb)
    return ma - mb, ma - mb - half, ma - mb + half


@dataclass
class Fig:
    fig: str
    value: str
    label: str | None
    rule: str | None


class Figures(HTMLParser):
    """Every element marked `data-fig` (its raw value in `data-v`) and `data-label` (its word),
    with the `data-rule` of the row it sits in."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.values: list[Fig] = []
        self.labels: dict[str, set[str]] = {}
        self._rule: str | None = None
        self._label: list[tuple[str, str, int]] = []  # (fig, text so far, depth)
        self._depth = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._depth += 1
        if tag == "tr":
            self._rule = a.get("data-rule") or self._rule
        if "data-rule" in a and tag != "tr":
            self._rule = a["data-rule"]
        if a.get("data-fig") is not None:
            self.values.append(Fig(a["data-fig"] or "", a.get("data-v") or "", None, self._rule))
        if a.get("data-label"):
            self._label.append((a["data-label"] or "", "", self._depth))

    def handle_endtag(self, tag: str) -> None:
        if self._label and self._label[-1][2] == self._depth:
            fig, text, _ = self._label.pop()
            self.labels.setdefault(fig, set()).add(" ".join(text.split()))
        self._depth -= 1
        if tag == "tr":
            self._rule = None

    def handle_data(self, data: str) -> None:
        self._label = [(fig, text + data, d) for fig, text, d in self._label]

    def of(self, fig: str, rule: int | None = None) -> str:
        found = {
            v.value for v in self.values if v.fig == fig and (rule is None or v.rule == str(rule))
        }
        assert len(found) == 1, (fig, rule, found)
        return found.pop()

"""Driving opening rules in tests: a movable clock, a visitor that sends events, agents."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from kohtaamo.realtime.presence import AgentState
from tests import factory as f


class Clock:
    """The engine's clock, starting an hour in the past so events at its times are never clamped."""

    def __init__(self) -> None:
        self.t = time.time() - 3600

    def __call__(self) -> float:
        return self.t

    def ms(self) -> int:
        return int(self.t * 1000)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def use_clock(app: FastAPI) -> Clock:
    clock = Clock()
    app.state.tracker.clock = clock
    app.state.rules.presence_ttl = 0.0  # tests change the team and look at once
    return clock


@dataclass
class Visitor:
    client: httpx.AsyncClient
    shop: f.Shop
    clock: Clock
    visitor: str = field(default_factory=lambda: f"v-{uuid.uuid4().hex[:10]}")
    visit: str = field(default_factory=lambda: f"s-{uuid.uuid4().hex[:10]}")

    async def send(self, type_: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
        body = f.batch(
            self.shop,
            [f.event(type_, props, ts=self.clock.ms())],
            visitor=self.visitor,
            visit=self.visit,
        )
        r = await f.track(self.client, body)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def page(self, path: str, page_type: str = "other", **props: Any) -> dict[str, Any]:
        return await self.send(
            "page_view", {"url": f"https://shop.example{path}", "page_type": page_type, **props}
        )

    async def check(self) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/decide",
            json={
                "site_key": self.shop.site_key,
                "visitor_id": self.visitor,
                "visit_id": self.visit,
            },
            headers={"Origin": f.ORIGIN},
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def new_visit(self) -> Visitor:
        return Visitor(self.client, self.shop, self.clock, visitor=self.visitor)


async def agents(
    app: FastAPI, shop: f.Shop, *, online: int, capacity: int = 3, active: int = 0
) -> None:
    """`online` agents of `capacity` chats each, `active` chats in all spread over them."""
    presence = app.state.presence
    for uid in range(1, 11):
        await presence.drop_agent(shop.id, uid)
    for uid in range(1, online + 1):
        mine = min(capacity, max(active - (uid - 1) * capacity, 0))
        await presence.set_agent(shop.id, AgentState(uid, "online", capacity, mine))


async def install(
    client: httpx.AsyncClient, shop: f.Shop, *slugs: str, holdout: float = 0.0
) -> dict[str, dict[str, Any]]:
    """Install templates (all when none named); holdout set so tests know which arm they get."""
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules/from-templates",
        json={"slugs": list(slugs) or None},
        headers=shop.owner.headers,
    )
    assert r.status_code == 201, r.text
    out = {}
    for rule in r.json():
        r2 = await client.patch(
            f"/api/v1/workspaces/{shop.id}/rules/{rule['id']}",
            json={"holdout_share": holdout},
            headers=shop.owner.headers,
        )
        assert r2.status_code == 200, r2.text
        out[rule["template"]] = r2.json()
    return out


async def create(client: httpx.AsyncClient, shop: f.Shop, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "rule",
        "action": {"type": "open_chat", "messages": {"fi": "Hei!", "en": "Hi!"}},
        "holdout_share": 0.0,
        **fields,
    }
    # An explicit assignment seed (from the name unless given): the arms of every run are the same.
    body.setdefault("seed", "t-" + hashlib.sha256(str(body["name"]).encode()).hexdigest()[:16])
    r = await client.post(
        f"/api/v1/workspaces/{shop.id}/rules", json=body, headers=shop.owner.headers
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def exposures(client: httpx.AsyncClient, shop: f.Shop, rule_id: int) -> list[dict[str, Any]]:
    r = await client.get(
        f"/api/v1/workspaces/{shop.id}/rules/{rule_id}/exposures?limit=500",
        headers=shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def fired(answer: dict[str, Any]) -> list[int]:
    return [a["rule_id"] for a in answer["actions"]]

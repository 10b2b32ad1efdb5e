"""Live state of each open visit, for the rule engine: where the visitor is, what went wrong, the cart.

One pure reducer (`apply`) and two stores: in memory (one process) or Redis (every worker sees the
same state). Only events stored for the first time are applied, so re-sent events never count twice.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import WatchError

from kohtaamo.kit import jsonx
from kohtaamo.tracking.intake import campaign

State = dict[str, Any]
MAX_VALUE = 2**53 - 1
MAX_CART_LINES = 500
MAX_KEYS = 200  # distinct form fields / payment methods kept per visit: a client cannot bloat it


@dataclass(slots=True)
class LiveEvent:
    type: str
    ts: float  # epoch seconds
    props: dict[str, Any]


def new_state(
    workspace_id: int, visitor_id: str, visit_id: str, *, number: int, currency: str
) -> State:
    return {
        "workspace_id": workspace_id,
        "visitor_id": visitor_id,
        "visit_id": visit_id,
        "number": number,
        "returning": number > 1,
        "customer_id": None,
        "started_at": None,
        "last_activity_at": None,
        "page": None,
        "pages_viewed": 0,
        "product_views_by_category": {},
        "counts": {},
        "form_errors": {},
        "payment_failures": {},
        "internal_not_found": 0,
        "cart": {"lines": {}, "value": 0, "currency": currency},
        "landing_url": None,
        "referrer": None,
        "utm": {},
    }


def apply(state: State, ev: LiveEvent) -> None:
    """Fold one event into the state (in place)."""
    p = ev.props
    if state["started_at"] is None or ev.ts < state["started_at"]:
        state["started_at"] = ev.ts
    late = state["last_activity_at"] is not None and ev.ts < state["last_activity_at"]
    if not late:
        state["last_activity_at"] = ev.ts
    counts = state["counts"]
    if ev.type in counts or len(counts) < MAX_KEYS:
        counts[ev.type] = counts.get(ev.type, 0) + 1
    t = ev.type
    if t == "page_view":
        state["pages_viewed"] += 1
        if state["landing_url"] is None:
            state["landing_url"] = p["url"]
            state["referrer"] = p.get("referrer")
            state["utm"] = campaign(p["url"])
        if not late:
            state["page"] = {
                "url": p["url"],
                "path": urlsplit(p["url"]).path or "/",
                "type": p.get("page_type", "other"),
                "entered_at": ev.ts,
                "product_id": p.get("product_id"),
                "category": p.get("category"),
            }
        if p.get("page_type") == "product" and p.get("category"):
            views = state["product_views_by_category"]
            if p["category"] in views or len(views) < MAX_KEYS:
                views[p["category"]] = views.get(p["category"], 0) + 1
    elif t == "form_error":
        key = f"{p['form']}.{p['field']}"
        errors = state["form_errors"]
        if key in errors or len(errors) < MAX_KEYS:
            errors[key] = errors.get(key, 0) + 1
    elif t == "payment_failed":
        methods = state.setdefault("payment_failures", {})
        if p["method"] in methods or len(methods) < MAX_KEYS:
            methods[p["method"]] = methods.get(p["method"], 0) + 1
    elif t == "not_found" and p.get("internal"):
        state["internal_not_found"] = state.get("internal_not_found", 0) + 1
    elif t in ("cart_add", "cart_remove"):
        _cart(state, p, +1 if t == "cart_add" else -1)
    elif t == "purchase":
        state["cart"]["lines"] = {}
        state["cart"]["value"] = 0
    elif t == "identify":
        state["customer_id"] = p["customer_id"]


def _cart(state: State, p: dict[str, Any], sign: int) -> None:
    cart = state["cart"]
    lines = cart["lines"]
    line = lines.get(p["product_id"]) or {
        "quantity": 0,
        "unit_price": p["unit_price"],
        "category": None,
    }
    line["quantity"] += sign * p.get("quantity", 1)
    line["unit_price"] = p["unit_price"]
    line["category"] = p.get("category") or line["category"]
    if line["quantity"] > 0 and (p["product_id"] in lines or len(lines) < MAX_CART_LINES):
        lines[p["product_id"]] = line
    else:
        lines.pop(p["product_id"], None)
    if p.get("currency"):
        cart["currency"] = p["currency"]
    # Capped so the state always fits JSON's safe integers, whatever a client claims.
    cart["value"] = min(sum(x["quantity"] * x["unit_price"] for x in lines.values()), MAX_VALUE)


def fold(
    state: State, events: Iterable[LiveEvent], *, number: int, customer_id: str | None
) -> State:
    state["number"] = number
    state["returning"] = number > 1
    if customer_id:
        state["customer_id"] = customer_id
    for ev in events:
        apply(state, ev)
    return state


class LiveStore(Protocol):
    async def update(
        self,
        key: tuple[int, str, str],
        events: list[LiveEvent],
        *,
        number: int,
        customer_id: str | None,
        currency: str,
    ) -> State: ...

    async def get(self, key: tuple[int, str, str]) -> State | None: ...

    async def close(self) -> None: ...


class MemoryLiveStore:
    """LRU with a time-to-live: visits idle longer than `ttl` seconds are forgotten."""

    def __init__(self, ttl: float, max_visits: int = 200_000) -> None:
        self._ttl = ttl
        self._max = max_visits
        self._data: OrderedDict[tuple[int, str, str], tuple[float, State]] = OrderedDict()

    async def update(
        self,
        key: tuple[int, str, str],
        events: list[LiveEvent],
        *,
        number: int,
        customer_id: str | None,
        currency: str,
    ) -> State:
        state = await self.get(key) or new_state(*key, number=number, currency=currency)
        fold(state, events, number=number, customer_id=customer_id)
        self._data[key] = (time.monotonic() + self._ttl, state)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)
        return state

    async def get(self, key: tuple[int, str, str]) -> State | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._data[key]
            return None
        return hit[1]

    async def close(self) -> None:
        self._data.clear()


class RedisLiveStore:
    """State as JSON under one key per visit; optimistic WATCH/MULTI so concurrent workers merge."""

    def __init__(self, redis: Redis, ttl: int, prefix: str = "kohtaamo:visit:") -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix

    def _key(self, key: tuple[int, str, str]) -> str:
        # "|" cannot occur in visitor or visit ids, so ("a:b", "c") and ("a", "b:c") never collide.
        return f"{self._prefix}{key[0]}|{key[1]}|{key[2]}"

    async def update(
        self,
        key: tuple[int, str, str],
        events: list[LiveEvent],
        *,
        number: int,
        customer_id: str | None,
        currency: str,
    ) -> State:
        rkey = self._key(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(rkey)
                    raw = await pipe.get(rkey)
                    state = (
                        jsonx.loads(raw)
                        if raw
                        else new_state(*key, number=number, currency=currency)
                    )
                    fold(state, events, number=number, customer_id=customer_id)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(rkey, jsonx.dumps(state), ex=self._ttl)
                    await pipe.execute()
                    return state
                except WatchError:
                    continue  # another worker wrote this visit meanwhile: read again and re-apply

    async def get(self, key: tuple[int, str, str]) -> State | None:
        raw = await self._redis.get(self._key(key))
        return jsonx.loads(raw) if raw else None

    async def close(self) -> None:
        return None

"""The visitor context: what a rule's condition sees (every field is documented in docs/rules.md).

Built from the visit's live state (tracking), the customer's order facts (contacts), the team's
load (presence) and the clock in the workspace's time zone. Pure: the same inputs give the same
context, so a decision can be replayed and a timer can ask "what will this look like at t?".
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from kohtaamo.contacts.service import CustomerFacts
from kohtaamo.realtime.presence import AgentLoad
from kohtaamo.tracking.live import State
from kohtaamo.tracking.schemas import EVENT_TYPES

Context = dict[str, Any]
# Fields that grow with the clock alone, between events: what timers look at (see timing.py).
CLOCK_FIELDS = ("page.seconds_on_page", "page.idle_seconds", "visit.seconds")
_ZONES: dict[str, ZoneInfo] = {}
_WALLS: dict[tuple[int, str], dict[str, Any]] = {}


def zone(name: str) -> ZoneInfo:
    tz = _ZONES.get(name)
    if tz is None:
        tz = _ZONES[name] = ZoneInfo(name)
    return tz


def _secs(now: float, since: float | None) -> int:
    return max(int(now - since), 0) if since is not None else 0


def build(
    state: State,
    *,
    now: float,
    tz: str,
    agents: AgentLoad,
    customer: CustomerFacts | None,
) -> Context:
    page = state.get("page") or {}
    last = state.get("last_activity_at")
    counts = state.get("counts") or {}
    events: dict[str, Any] = dict.fromkeys(EVENT_TYPES, 0)
    events.update(counts)
    per_field: dict[str, dict[str, int]] = {}
    worst = 0
    for key, n in (state.get("form_errors") or {}).items():
        form, _, fld = key.partition(".")
        per_field.setdefault(form, {})[fld] = n
        worst = max(worst, n)
    events["form_errors"] = per_field
    events["max_errors_per_field"] = worst
    events["payment_failures"] = dict(state.get("payment_failures") or {})
    events["internal_not_found"] = state.get("internal_not_found", 0)
    cart = state.get("cart") or {"lines": {}, "value": 0, "currency": None}
    lines = cart["lines"]
    views = state.get("product_views_by_category") or {}
    utm = state.get("utm") or {}
    referrer = state.get("referrer")
    cid = state.get("customer_id")
    last_order = customer.last_order_at.timestamp() if customer and customer.last_order_at else None
    return {
        "page": {
            "type": page.get("type"),
            "url": page.get("url"),
            "path": page.get("path"),
            "product_id": page.get("product_id"),
            "category": page.get("category"),
            "seconds_on_page": _secs(now, page.get("entered_at")),
            "idle_seconds": _secs(now, last),
        },
        "visit": {
            "number": state.get("number", 1),
            "returning": bool(state.get("returning")),
            "pages_viewed": state.get("pages_viewed", 0),
            "seconds": _secs(now, state.get("started_at")),
            "utm": {
                "source": utm.get("source"),
                "medium": utm.get("medium"),
                "campaign": utm.get("campaign"),
            },
            "newsletter_id": utm.get("newsletter_id"),
            "from_newsletter": bool(utm.get("newsletter_id")),
            "referrer": referrer,
            "referrer_host": _host(referrer),
            "landing_url": state.get("landing_url"),
            "product_views": dict(views),
            "product_pages": sum(views.values()),
            "max_product_views_in_category": max(views.values(), default=0),
        },
        "events": events,
        "cart": {
            "lines": len(lines),
            "items": sum(x["quantity"] for x in lines.values()),
            "value": cart["value"],
            "currency": cart.get("currency"),
            "product_ids": list(lines),
            "categories": sorted({x["category"] for x in lines.values() if x.get("category")}),
        },
        "customer": {
            "identified": cid is not None,
            "id": cid,
            "orders": customer.orders if customer else 0,
            "lifetime_value": customer.lifetime_value if customer else 0,
            "days_since_last_order": int((now - last_order) // 86400)
            if last_order is not None
            else None,
        },
        "agents": {
            "online": agents.online,
            "capacity": agents.capacity,
            "free_slots": agents.free_slots,
            "queue": agents.queue,
            "load": round(agents.load, 3),
        },
        "now": _wall(now, tz),
    }


class Future:
    """One reusable copy of a context whose clock fields are moved in place: the timers try
    many instants per event, and a fresh context for each would cost more than the rules."""

    __slots__ = ("_anchors", "_page", "_tz", "_visit", "ctx")

    def __init__(self, ctx: Context, state: State, tz: str) -> None:
        self._page = dict(ctx["page"])
        self._visit = dict(ctx["visit"])
        self.ctx = ctx | {"page": self._page, "visit": self._visit}
        self._tz = tz
        self._anchors = (
            (state.get("page") or {}).get("entered_at"),
            state.get("last_activity_at"),
            state.get("started_at"),
        )

    def at(self, at: float) -> Context:
        entered, last, started = self._anchors
        self._page["seconds_on_page"] = _secs(at, entered)
        self._page["idle_seconds"] = _secs(at, last)
        self._visit["seconds"] = _secs(at, started)
        self.ctx["now"] = _wall(at, self._tz)
        return self.ctx


def _wall(at: float, tz: str) -> dict[str, Any]:
    # Every zone's offset is whole minutes, so one minute of UTC is one minute of local time.
    key = (int(at // 60), tz)
    hit = _WALLS.get(key)
    if hit is None:
        if len(_WALLS) > 4096:
            _WALLS.clear()
        hit = _WALLS[key] = _local(at, tz)
    return hit


def _local(at: float, tz: str) -> dict[str, Any]:
    local = datetime.fromtimestamp(at, UTC).astimezone(zone(tz))
    return {
        "hour": local.hour,
        "minute": local.minute,
        "time": f"{local.hour:02d}:{local.minute:02d}",
        "weekday": local.isoweekday(),
        "date": local.date().isoformat(),
    }


@lru_cache(maxsize=4096)
def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None

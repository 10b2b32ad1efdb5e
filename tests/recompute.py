"""The reports' figures worked out in plain Python from the generator's own record
(tests/historykit.py) by the definitions of docs/analytics.md, for
tests/test_recomputed_reports.py. Nothing here reads the product's code or the archive."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest

from tests import figkit as fk
from tests import historykit as hk

WEEK = hk.WEEK


class People:
    """docs/analytics.md "People across devices": a device belongs to the customer it was last
    linked to (identify, an order carrying both, an exposure made while identified); an exposure
    made while identified and an order carrying a customer id belong to that customer."""

    def __init__(self, w: hk.World) -> None:
        self.w = w
        links: list[tuple[float, str, str]] = []  # (when, customer, device)
        links += [(e.t, w.identified[(e.visitor, e.visit)], e.visitor)
                  for e in w.events if e.type == "identify"]  # fmt: skip
        links += [(o.placed, o.customer, o.visitor) for o in w.orders.values()
                  if o.customer and o.visitor]  # fmt: skip
        links += [(x.t, c, x.visitor) for x in w.exposures
                  if (c := w.identified.get((x.visitor, x.visit)))]  # fmt: skip
        self.device: dict[str, str] = {}
        for _, customer, device in sorted(links):  # the latest (ties: the larger id) wins
            self.device[device] = customer

    def of_device(self, visitor: str) -> str:
        c = self.device.get(visitor)
        return f"c:{c}" if c else f"v:{visitor}"

    def of_exposure(self, x: hk.Exposure) -> str:
        c = self.w.identified.get((x.visitor, x.visit))
        return f"c:{c}" if c else self.of_device(x.visitor)

    def of_order(self, o: hk.Order) -> str:
        if o.customer:
            return f"c:{o.customer}"
        assert o.visitor
        return self.of_device(o.visitor)


def first_arms(w: hk.World, p: People) -> dict[int, dict[str, tuple[float, str, str | None]]]:
    """Per rule, each person's first exposure (fired or held out; ties by id): (at, arm, variant)."""
    out: dict[int, dict[str, tuple[float, str, str | None]]] = defaultdict(dict)
    for x in sorted(w.exposures, key=lambda x: (x.t, x.id)):
        if x.outcome in ("fired", "held_out"):
            out[x.rule_id].setdefault(p.of_exposure(x), (x.t, x.outcome, x.variant))
    return out


def attribution(w: hk.World, p: People) -> dict[str, dict[str, Any]]:
    """docs/analytics.md "Attribution": the order's person's last exposure and last conversation
    with e <= t < e + window; outcome and variant the person's arm in that rule; same-visit when
    the exposure's visit is the order's (the last visit at or before it of its device, or of any
    of the customer's devices when it came with none)."""
    arms = first_arms(w, p)
    out = {}
    for o in w.orders.values():
        if o.cancelled:
            continue
        who = p.of_order(o)
        touches = [x for x in w.exposures if x.outcome in ("fired", "held_out")
                   and p.of_exposure(x) == who and x.t <= o.placed < x.t + WEEK]  # fmt: skip
        last = max(touches, key=lambda x: x.t, default=None)
        devices = {o.visitor} if o.visitor else {d for d, c in p.device.items()
                                                 if f"c:{c}" == who}  # fmt: skip
        before = [e for e in w.events if e.visitor in devices and e.t <= o.placed]
        visit = max(before, key=lambda e: e.t, default=None)
        chats = [
            c for c in w.chats if p.of_device(c.visitor) == who and c.t <= o.placed < c.t + WEEK
        ]
        chat = max(chats, key=lambda c: c.t, default=None)
        arm = arms[last.rule_id][who] if last else None
        out[o.oid] = {
            "order_id": o.oid,
            "revenue": o.total - o.refunded,
            "exposure_id": last.id if last else None,
            "rule_id": last.rule_id if last else None,
            "outcome": arm[1] if arm else None,
            "variant": arm[2] if arm else None,
            "same_visit": bool(last and visit and (last.visitor, last.visit) == (visit.visitor, visit.visit)),
            "conversation_id": chat.id if chat else None,
            "placed": o.placed,
        }  # fmt: skip
    return out


def shop_figures(
    w: hk.World, p: People, lo: float, hi: float
) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """The shop's KPIs and the funnel over [lo, hi), by docs/analytics.md ("KPIs", "The
    funnel", the Glossary)."""
    live = [o for o in w.orders.values() if not o.cancelled and lo <= o.placed < hi]
    events = [e for e in w.events if lo <= e.t < hi]
    chats = [c for c in w.chats if lo <= c.t < hi]
    rated = [c for c in chats if c.rating]
    # "Tilaukset / Orders", "Myynti / Revenue": orders placed in the range, not cancelled,
    # from any source; their value less refunds. "Keskustelut / Conversations": opened in the
    # range. "Tyytyväisyys / Satisfaction": 👍 of the rated ones (the rule's own, per rule).
    want: dict[str, dict[str, Any]] = {
        "shop.orders": {"shop": len(live)},
        "shop.revenue": {"shop": sum(o.total - o.refunded for o in live)},
        "shop.conversations": {"shop": len(chats)},
        "shop.csat": {"shop": approx(sum(c.rating == "up" for c in rated), len(rated))},
        "rule.csat": {
            str(r): approx(sum(c.rating == "up" for c in rated if c.rule_id == r),
                           sum(1 for c in rated if c.rule_id == r))
            for r in {c.rule_id for c in rated if c.rule_id}
        },
    }  # fmt: skip
    want = {k: {g: v for g, v in d.items() if v is not None} for k, d in want.items()}
    # "Kävijät / Visitors": people who viewed a page (a customer's devices are one person);
    # "Konversio / Conversion": the share of them who ordered in the range.
    seen = {p.of_device(e.visitor) for e in events if e.type == "page_view"}
    bought = {p.of_order(o) for o in live}
    want["shop.visitors"] = {"shop": len(seen)}
    want["shop.conversion"] = {"shop": approx(len(seen & bought), len(seen))}
    # shop.conversion_chatters_vs_not / shop.aov_chatters_vs_not: those people, who chatted in
    # the range or not; the share who ordered, and their value per order.
    chatters = {p.of_device(c.visitor) for c in chats}
    want["shop.conversion_chatters_vs_not"], want["shop.aov_chatters_vs_not"] = {}, {}
    for name, people in (("chatters", seen & chatters), ("others", seen - chatters)):
        mine = [o for o in live if p.of_order(o) in people]
        if people:
            n = len({p.of_order(o) for o in mine})
            want["shop.conversion_chatters_vs_not"][name] = approx(n, len(people))
        if mine:
            value = sum(o.total - o.refunded for o in mine)
            want["shop.aov_chatters_vs_not"][name] = approx(value, len(mine))
    # The funnel: each stage requiring those before it; consideration = cart_add or
    # checkout_step, or ordered; purchase = the people who ordered (shop.conversion's);
    # retention = an event later than the first order in another visit than the order's (the
    # person's last visit at or before it); advocacy = rated a chat 👍.
    first_buy: dict[str, float] = {}
    for o in live:
        first_buy[p.of_order(o)] = min(first_buy.get(p.of_order(o), math.inf), o.placed)
    considered = {p.of_device(e.visitor) for e in events
                  if e.type in ("cart_add", "checkout_step")} | bought  # fmt: skip
    kept = set()
    for who, t in first_buy.items():
        mine_ev = [e for e in events if p.of_device(e.visitor) == who]
        at = max((e for e in mine_ev if e.t <= t), key=lambda e: e.t, default=None)
        if any(e.t > t and (at is None or (e.visitor, e.visit) != (at.visitor, at.visit))
               for e in mine_ev):  # fmt: skip
            kept.add(who)
    advocates = {p.of_device(c.visitor) for c in chats if c.rating == "up"}
    stages = [seen, considered, bought, kept, advocates]
    funnel, people = [], set(seen)
    for stage in stages:
        people &= stage
        funnel.append(len(people))
    return want, funnel


def approx(num: float, den: float) -> Any:
    """A share or an average: undefined (no row) over nothing."""
    return pytest.approx(num / den) if den else None


ARM = ("visitors", "converted", "orders", "revenue")


def experiment_figures(w: hk.World, p: People, lo: float, hi: float) -> dict[int, dict[str, Any]]:
    """docs/analytics.md "Rule experiments" and the Glossary ("Henkilöt / People", "Tilanneet /
    Ordered", "Konversio", "Ryhmän tilaukset / myynti", "Nousu / Uplift", "Lisätuotto /
    Incremental revenue"): each person first exposed in [lo, hi) is in the arm (and variant) of
    their first exposure for good; their orders (not cancelled, any device) with
    e <= t < e + window count there, value less refunds."""
    out = {}
    for r, people in sorted(first_arms(w, p).items()):
        per: dict[tuple[str, str | None], list[tuple[int, int]]] = defaultdict(list)
        for who, (t, arm, variant) in people.items():
            if not lo <= t < hi:
                continue
            mine = [o for o in w.orders.values() if not o.cancelled and p.of_order(o) == who
                    and t <= o.placed < t + WEEK]  # fmt: skip
            per[(arm, variant)].append((len(mine), sum(o.total - o.refunded for o in mine)))
        if not per:
            continue
        shown = [x for (arm, _), rows in per.items() if arm == "fired" for x in rows]
        held = [x for (arm, _), rows in per.items() if arm == "held_out" for x in rows]

        def figures(rows: list[tuple[int, int]]) -> list[int]:
            return [len(rows), sum(1 for k, _ in rows if k), sum(k for k, _ in rows),
                    sum(v for _, v in rows)]  # fmt: skip

        def group(rows: list[tuple[int, int]]) -> dict[str, Any]:
            n, x, orders, revenue = figures(rows)
            low, high = wilson(x, n) if n else (None, None)
            return {"variant": None, "visitors": n, "converted": x, "conversion": approx0(x, n),
                    "conversion_interval": [low, high], "orders": orders, "revenue": revenue,
                    "revenue_per_visitor": approx0(revenue, n), "aov": approx0(revenue, orders)}  # fmt: skip

        e, h = group(shown), group(held)
        uplift = pytest.approx(
            (e["converted"] / len(shown) if shown else 0.0)
            - (h["converted"] / len(held) if held else 0.0)
        )
        want: dict[str, Any] = {"exposed": e, "holdout": h, "uplift": uplift}
        want["variants"] = {v: figures(rows) for (arm, v), rows in per.items() if arm == "fired"}
        want["p_conversion"] = ztest(e["converted"], len(shown), h["converted"], len(held))
        rpv = [v for _, v in shown], [v for _, v in held]
        inc, interval = None, [None, None]
        if shown and held:
            inc = pytest.approx((sum(rpv[0]) / len(shown) - sum(rpv[1]) / len(held)) * len(shown))
        if len(shown) >= 2 and len(held) >= 2 and (any(rpv[0]) or any(rpv[1])):
            _, low, high = fk.rpv_welch(*rpv)
            interval = [pytest.approx(low * len(shown)), pytest.approx(high * len(shown))]
        want["incremental_revenue"], want["interval"] = inc, interval
        out[r] = want
    return out


def approx0(num: float, den: float) -> Any:
    return pytest.approx(num / den) if den else 0.0


def wilson(x: int, n: int) -> tuple[Any, Any]:
    """The Wilson 95 % score interval, by its formula."""
    z, ph = 1.959963984540054, x / n
    mid, half = ph + z * z / (2 * n), z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    d = 1 + z * z / n
    return pytest.approx((mid - half) / d), pytest.approx((mid + half) / d)


def ztest(x1: int, n1: int, x2: int, n2: int) -> Any:
    """The pooled two-proportion z-test's two-sided p (undefined without both arms)."""
    if not (n1 and n2):
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return pytest.approx(1.0)
    return pytest.approx(math.erfc(abs(x1 / n1 - x2 / n2) / se / math.sqrt(2)))

"""When could a rule next become true? Timers without polling (docs/rules.md, "Timers").

Between two events only the clock moves. A condition reads the clock through three fields that
grow by one every second from a known anchor (`page.seconds_on_page` from entering the page,
`page.idle_seconds` from the last event, `visit.seconds` from the visit's start) and through the
wall clock (`now.*`). So its truth can only change at a few instants, which are read off the rule
once, when it is compiled:

- a comparison of a clock field with a constant k flips when the field reaches k or k+1, i.e.
  at anchor+k or anchor+k+1;
- `now.hour` flips at hour boundaries, `now.minute`/`now.time` at minute boundaries,
  `now.weekday`/`now.date` at local midnight; a rule's active hours open at their start time;
- a clock field in any other shape (inside arithmetic, say) is checked at every whole second.

After each event (and each check) the engine evaluates the rule at those instants, in order,
within a horizon, and answers with the first at which it would fire: the widget asks
`/api/v1/decide` then. If the visitor does anything first, that event recomputes everything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kohtaamo.rules.context import CLOCK_FIELDS, Context, Future, zone
from kohtaamo.tracking.live import State

COMPARISONS = frozenset({">", ">=", "<", "<=", "==", "===", "!=", "!=="})
ANCHORS: dict[str, Callable[[State], float | None]] = {
    "page.seconds_on_page": lambda s: (s.get("page") or {}).get("entered_at"),
    "page.idle_seconds": lambda s: s.get("last_activity_at"),
    "visit.seconds": lambda s: s.get("started_at"),
}
HORIZON = 1800.0  # seconds ahead worth arming for; a visit idle longer is likely gone
OPAQUE_HORIZON = 300.0
# Arrive just after the boundary, never before it (timers and clocks are not exact).
SLACK = 0.05


@dataclass(frozen=True, slots=True)
class ClockUse:
    thresholds: dict[str, frozenset[float]] = field(default_factory=dict)
    wall: frozenset[str] = frozenset()
    opaque: frozenset[str] = frozenset()

    timed: bool = False  # set by analyse(): the rule reads the clock at all


def _var_name(node: Any) -> str | None:
    if isinstance(node, dict) and len(node) == 1 and "var" in node:
        raw = node["var"]
        name = raw[0] if isinstance(raw, list) and raw else raw
        return name if isinstance(name, str) else None
    return None


def analyse(logic: Any) -> ClockUse:
    thresholds: dict[str, set[float]] = {}
    wall: set[str] = set()
    opaque: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                walk(x)
            return
        if not (isinstance(node, dict) and len(node) == 1):
            return
        op, raw = next(iter(node.items()))
        args = raw if isinstance(raw, list) else [raw]
        if op == "var":
            name = _var_name(node)
            if name in CLOCK_FIELDS:
                opaque.add(name)  # reached only when not a plain comparison argument
            elif name and name.startswith("now."):
                wall.add(name.removeprefix("now."))
            elif name in ("now", "", None):
                wall.add("minute")
            return
        if op in COMPARISONS:
            names = [_var_name(a) for a in args]
            clock = [n for n in names if n in CLOCK_FIELDS]
            consts = [
                a
                for a in args
                if isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a)
            ]
            if len(clock) == 1 and len(consts) == len(args) - 1:
                thresholds.setdefault(clock[0], set()).update(consts)
                return
        for a in args:
            walk(a)

    walk(logic)
    return ClockUse(
        {k: frozenset(v) for k, v in thresholds.items()},
        frozenset(wall),
        frozenset(opaque),
        bool(thresholds or wall or opaque),
    )


def _wall_instants(fields: frozenset[str], now: float, end: float, tz: str) -> Iterator[float]:
    if not fields:
        return
    local = datetime.fromtimestamp(now, UTC).astimezone(zone(tz))
    if fields & {"minute", "time"}:
        t = math.floor(now / 60) * 60 + 60
        while t <= end:
            yield t
            t += 60
    elif "hour" in fields:
        # Via local time: zones with half-hour offsets have their hours at :30 UTC.
        top = local.replace(minute=0, second=0, microsecond=0)
        for n in range(1, int(HORIZON // 3600) + 2):
            yield (top + timedelta(hours=n)).timestamp()
    if fields & {"weekday", "date"}:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        yield midnight.timestamp()


def hours_open_instants(hours: dict[str, Any] | None, now: float, tz: str) -> Iterator[float]:
    """When a rule's active hours next open (today's or tomorrow's start)."""
    if not hours or not hours.get("from"):
        return
    h, m = (int(x) for x in str(hours["from"]).split(":"))
    local = datetime.fromtimestamp(now, UTC).astimezone(zone(tz))
    for days in (0, 1):
        start = (local + timedelta(days=days)).replace(hour=h, minute=m, second=0, microsecond=0)
        yield start.timestamp()


def instants(
    use: ClockUse, state: State, *, now: float, tz: str, hours: dict[str, Any] | None = None
) -> list[float]:
    """Every instant in (now, now + HORIZON] at which the rule's truth could change."""
    end = now + HORIZON
    out: set[float] = set()
    for name, ks in use.thresholds.items():
        anchor = ANCHORS[name](state)
        if anchor is None:
            continue
        for k in ks:
            for t in (anchor + math.ceil(k), anchor + math.floor(k) + 1):
                if now < t <= end:
                    out.add(t)
    for name in use.opaque:
        anchor = ANCHORS[name](state)
        if anchor is None:
            continue
        first = anchor + max(math.floor(now - anchor) + 1, 0)
        t = first
        while t <= min(end, now + OPAQUE_HORIZON):
            out.add(t)
            t += 1
    out.update(t for t in _wall_instants(use.wall, now, end, tz) if now < t <= end)
    if hours:  # the caller passes hours only while they are closed
        out.update(t for t in hours_open_instants(hours, now, tz) if now < t <= end)
    return sorted(out)


def first_true(
    ts: list[float],
    future: Future,
    *,
    holds: Callable[[Context, float], bool],
) -> float | None:
    """The first instant at which `holds(context at t, t)` is true, if any."""
    for t in ts:
        at = t + SLACK
        if holds(future.at(at), at):
            return at
    return None

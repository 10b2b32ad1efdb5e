"""The rules of each workspace, compiled once and cached in each worker for the hot path.

A change made in this worker drops the workspace's entry at once (RulesChanged on the bus);
other workers pick it up within `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.bus import Event
from kohtaamo.rules import extensions, jsonlogic, ruleset
from kohtaamo.rules.js import truthy
from kohtaamo.rules.models import Rule
from kohtaamo.rules.timing import ClockUse, analyse

extensions.register()
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RulesChanged(Event):
    rule_id: int


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    weight: float
    messages: dict[str, str]


@dataclass(frozen=True, slots=True)
class Compiled:
    id: int
    name: str
    priority: int
    goal: str
    test: Callable[[Any], Any]
    action: dict[str, Any]
    cap_per_visit: int
    cap_days: int | None
    hours: dict[str, Any] | None
    holdout_share: float
    variants: tuple[Variant, ...]
    min_free_agents: int
    is_default: bool
    seed: str
    clock: ClockUse
    condition: Any
    # The clock-free conjuncts of an `and` rule: while one is false, time alone cannot make
    # the rule true, so no timer is worked out for it (most rules on most events).
    gate: Callable[[Any], Any] | None = None
    gate_logic: Any = None

    @property
    def needs_agents(self) -> bool:
        return self.action.get("type") == "open_chat"

    def _unit(self, salt: str, visitor: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{salt}:{visitor}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def held_out(self, visitor: str) -> bool:
        """The visitor's arm: fixed by (rule, visitor) alone, on every visit and every worker."""
        return self._unit("arm", visitor) < self.holdout_share

    def variant(self, visitor: str) -> Variant | None:
        if not self.variants:
            return None
        total = sum(v.weight for v in self.variants)
        point = self._unit("variant", visitor) * total
        for v in self.variants:
            point -= v.weight
            if point < 0:
                return v
        return self.variants[-1]


def in_hours(hours: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Active hours {"days": [1..7], "from": "HH:MM", "to": "HH:MM"} in the shop's local time."""
    if not hours:
        return True
    days = hours.get("days")
    if days and now["weekday"] not in days:
        return False
    start, end = hours.get("from"), hours.get("to")
    if not start or not end:
        return True
    return extensions.time_between(start, end, now["time"])


def compile_rule(rule: Rule) -> Compiled:
    return Compiled(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        goal=rule.goal,
        test=jsonlogic.compile(rule.condition),
        action=dict(rule.action),
        cap_per_visit=rule.cap_per_visit,
        cap_days=rule.cap_days,
        hours=rule.active_hours,
        holdout_share=rule.holdout_share,
        variants=tuple(
            Variant(str(v["key"]), float(v.get("weight", 1)), dict(v.get("messages") or {}))
            for v in rule.variants or ()
        ),
        min_free_agents=rule.min_free_agents,
        is_default=rule.is_default,
        seed=rule.seed,
        clock=analyse(rule.condition),
        condition=rule.condition,
        gate=jsonlogic.compile(g) if (g := _gate(rule.condition)) is not None else None,
        gate_logic=g,
    )


def _gate(condition: Any) -> Any:
    if not (isinstance(condition, dict) and len(condition) == 1 and "and" in condition):
        return None
    parts = condition["and"]
    if not isinstance(parts, list):
        return None
    free = [p for p in parts if not analyse(p).timed]
    if not free or len(free) == len(parts):
        return None
    return {"and": free}


# ctx -> (rules true now, in order; rules false now that time alone could make true)
Matcher = Callable[[Any], tuple[list[Compiled], list[Compiled]]]


def waits(rule: Compiled) -> bool:
    return rule.clock.timed or rule.hours is not None


def _matcher(rules: list[Compiled]) -> Matcher:
    gates = [
        (r.gate_logic if r.gate_logic is not None else True) if waits(r) else None for r in rules
    ]
    one = ruleset.compile_set([r.condition for r in rules], gates) if rules else None

    def each(ctx: Any) -> tuple[list[Compiled], list[Compiled]]:
        # One rule at a time, each on its own: a rule that fails never silences the others.
        true, wait = [], []
        for r in rules:
            try:
                if _true(r.test(ctx)):
                    true.append(r)
                elif waits(r) and (r.gate is None or _true(r.gate(ctx))):
                    wait.append(r)
            except Exception as exc:
                _failed(r, exc)
        return true, wait

    if one is None:
        return each

    def together(ctx: Any) -> tuple[list[Compiled], list[Compiled]]:
        try:
            hits = one(ctx)
        except Exception:
            hits = None  # some rule fails on this context: find which, one by one
        if hits is None:
            return each(ctx)
        return [rules[i] for i in hits[0]], [rules[i] for i in hits[1]]

    return together


RULE_ERRORS = Counter(
    "kohtaamo_rule_errors_total", "Rule evaluations that failed (the rule counts as false)"
)


def _failed(rule: Compiled, exc: Exception) -> None:
    RULE_ERRORS.inc()
    log.warning("rule %s failed on a context: %r", rule.id, exc)


def _true(value: Any) -> bool:
    # Most conditions end in a comparison: a bool, decided without a call.
    if value is True or value is False:
        return value
    return truthy(value)


def ordered(rules: list[Compiled]) -> list[Compiled]:
    # Highest priority first; the catch-all default rule after everything else at its priority.
    return sorted(rules, key=lambda r: (-r.priority, r.is_default, r.id))


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A workspace's enabled rules in decision order, and one function that evaluates them all."""

    rules: list[Compiled]
    match: Matcher


EMPTY = RuleSet([], lambda _ctx: ([], []))


def build(rows: list[Rule]) -> RuleSet:
    rules = ordered([compile_rule(r) for r in rows])
    return RuleSet(rules, _matcher(rules)) if rules else EMPTY


class RuleBook:
    def __init__(self, maker: async_sessionmaker[AsyncSession], *, ttl: float = 5.0) -> None:
        self._maker = maker
        self._ttl = ttl
        # workspace -> (fresh until, version, rule set); see `_version`.
        self._cache: dict[int, tuple[float, tuple[int, int, int], RuleSet]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def rules(self, workspace_id: int) -> RuleSet:
        hit = self._cache.get(workspace_id)
        if hit and hit[0] > time.monotonic():
            return hit[2]
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        async with lock:  # one reload per workspace at a time; the others wait for it
            hit = self._cache.get(workspace_id)
            if hit and hit[0] > time.monotonic():
                return hit[2]
            async with self._maker() as session:
                version = await _version(session, workspace_id)
                if hit and hit[1] == version:
                    rset = hit[2]
                else:
                    stmt = select(Rule).where(
                        Rule.workspace_id == workspace_id, Rule.enabled.is_(True)
                    )
                    rows = list((await session.execute(stmt)).scalars())
                    # Generating and compiling Python takes milliseconds a rule: off the loop.
                    rset = await asyncio.to_thread(build, rows)
            if len(self._cache) > 10_000:
                self._cache.clear()
                self._locks.clear()
            self._cache[workspace_id] = (time.monotonic() + self._ttl, version, rset)
            return rset

    async def on_changed(self, event: RulesChanged) -> None:
        self._cache.pop(event.workspace_id, None)


async def _version(session: AsyncSession, workspace_id: int) -> tuple[int, int, int]:
    """(count, newest id, sum of revisions): any create or edit changes it, whatever the clocks.

    One small aggregate per reload tells whether anything changed; the rules (and compiling
    them, the costly part) are loaded only when it did.
    """
    count, newest, revisions = (
        await session.execute(
            select(func.count(), func.max(Rule.id), func.sum(Rule.revision)).where(
                Rule.workspace_id == workspace_id
            )
        )
    ).one()
    return int(count), int(newest or 0), int(revisions or 0)

"""The rules of each workspace, compiled once and cached in each worker for the hot path.

A change made in this worker drops the workspace's entry at once (RulesChanged on the bus);
other workers pick it up within `ttl` seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.bus import Event
from kohtaamo.rules import extensions, jsonlogic
from kohtaamo.rules.models import Rule
from kohtaamo.rules.timing import ClockUse, analyse

extensions.register()


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
    )


def ordered(rules: list[Compiled]) -> list[Compiled]:
    # Highest priority first; the catch-all default rule after everything else at its priority.
    return sorted(rules, key=lambda r: (-r.priority, r.is_default, r.id))


class RuleBook:
    def __init__(self, maker: async_sessionmaker[AsyncSession], *, ttl: float = 5.0) -> None:
        self._maker = maker
        self._ttl = ttl
        self._cache: dict[int, tuple[float, list[Compiled]]] = {}

    async def rules(self, workspace_id: int) -> list[Compiled]:
        hit = self._cache.get(workspace_id)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        async with self._maker() as session:
            stmt = select(Rule).where(Rule.workspace_id == workspace_id, Rule.enabled.is_(True))
            rows = list((await session.execute(stmt)).scalars())
        compiled = ordered([compile_rule(r) for r in rows])
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[workspace_id] = (now + self._ttl, compiled)
        return compiled

    async def on_changed(self, event: RulesChanged) -> None:
        self._cache.pop(event.workspace_id, None)

"""The person behind an identified visit: the unit of a rule's arm and of its per-N-days cap
(ADR 0013). An anonymous device is its own person (its visitor id); once a visit is identified,
the person is the customer, and their exposures on every device linked to them count.

A rule's arm for an identified person is the arm and variant of their first exposure to it on
any device (fired or held out), else the hash of the customer id; so every device of one
customer gets one arm once it identifies. The lookup is one indexed query per identified visit
and worker, cached for `PERSON_TTL` seconds; anonymous traffic never makes it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.kit.clock import as_utc
from kohtaamo.rules.book import Compiled, Variant
from kohtaamo.rules.models import Exposure, Outcome
from kohtaamo.rules.raw import RawStore
from kohtaamo.tracking.live import State
from kohtaamo.tracking.models import Visitor

# Another device's link or exposure reaches this worker's view of a visit within this long.
PERSON_TTL = 30.0
PersonKey = tuple[int, str, str, str]  # workspace, customer, visitor, visit


@dataclass(slots=True)
class Person:
    expires: float
    # rule -> (outcome, variant) of the person's first exposure, and (when, visitor, visit) of
    # their last one.
    first: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    last: dict[int, tuple[float, str, str]] = field(default_factory=dict)

    def exposed(
        self, rule_id: int, outcome: str, variant: str | None, state: State, now: float
    ) -> None:
        self.first.setdefault(rule_id, (outcome, variant))
        self.last[rule_id] = (now, state["visitor_id"], state["visit_id"])

    def capped(self, rule_id: int, days: int, state: State, now: float) -> bool:
        """Exposed in another visit, on any device, within `days` (cap per person per N days)."""
        seen = self.last.get(rule_id)
        if seen is None or seen[1:] == (state["visitor_id"], state["visit_id"]):
            return False
        return now - seen[0] < days * 86400


def arm(
    rule: Compiled, who: str, first: tuple[str, str | None] | None
) -> tuple[bool, Variant | None]:
    """(held out, variant) for the person `who`: their first exposure's, else from the hash."""
    if first is not None:
        if first[0] == Outcome.held_out:
            return True, None
        kept = next((v for v in rule.variants if v.key == first[1]), None)
        # A variant removed since is drawn again (among the rule's variants of today).
        return False, kept or rule.variant(who)
    if rule.held_out(who):
        return True, None
    return False, rule.variant(who)


class People:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        raw: RawStore | None,
        *,
        ttl: float = PERSON_TTL,
        size: int = 100_000,
    ) -> None:
        self._maker = maker
        self._raw = raw
        self._ttl = ttl
        self._size = size
        self._cache: OrderedDict[PersonKey, Person] = OrderedDict()

    @staticmethod
    def key(state: State) -> PersonKey:
        return (
            state["workspace_id"],
            state["customer_id"],
            state["visitor_id"],
            state["visit_id"],
        )

    def cached(self, state: State) -> Person | None:
        hit = self._cache.get(self.key(state))
        return hit if hit is not None and hit.expires >= time.monotonic() else None

    async def get(self, state: State) -> Person:
        """The identified visit's person (state["customer_id"] is set)."""
        hit = self.cached(state)
        if hit is not None:
            return hit
        person = Person(time.monotonic() + self._ttl)
        firsts: dict[int, tuple[datetime, int]] = {}
        for rule_id, at, visitor, visit, outcome, variant, row_id in await self._rows(
            state["workspace_id"], state["customer_id"]
        ):
            at = as_utc(at)
            if rule_id not in firsts or (at, row_id) < firsts[rule_id]:
                firsts[rule_id] = (at, row_id)
                person.first[rule_id] = (outcome, variant)
            stamp = at.timestamp()
            if rule_id not in person.last or stamp > person.last[rule_id][0]:
                person.last[rule_id] = (stamp, visitor, visit)
        key = self.key(state)
        self._cache[key] = person
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return person

    async def _rows(self, workspace_id: int, customer: str) -> list[Any]:
        if self._raw is not None:
            return await self._raw.person_exposed(workspace_id, customer)
        cols = (
            Exposure.rule_id,
            Exposure.at,
            Exposure.visitor_key,
            Exposure.visit_key,
            Exposure.outcome,
            Exposure.variant,
            Exposure.id,
        )
        acted = Exposure.outcome.in_((Outcome.fired, Outcome.held_out))
        # As raw.py's: a UNION, so each branch uses its index.
        stmt = union(
            select(*cols).where(
                Exposure.workspace_id == workspace_id, Exposure.customer_id == customer, acted
            ),
            select(*cols).where(
                Exposure.workspace_id == workspace_id,
                acted,
                Exposure.visitor_key.in_(
                    select(Visitor.key).where(
                        Visitor.workspace_id == workspace_id, Visitor.customer_id == customer
                    )
                ),
            ),
        )
        async with self._maker() as session:
            return list((await session.execute(stmt)).all())

"""Live decisions: on every tracked event (and every widget check-back), which rule acts now?

Order of checks for each matching rule, highest priority first (docs/rules.md, "Decisions"):
cap per visit -> cap per visitor per N days -> active hours -> a conversation going on -> agents (nobody online, too few
free slots, the default rule's back-off) -> arm (held out or fired, and the variant). A suppressed
rule leaves the moment to the next one; a fired or held-out rule ends it, so the control arm is
treated exactly like the treated arm and at most one rule acts per moment. Every decision is an
exposure row; suppressions once per (rule, visit, reason), so a rule matching on every event
does not flood the table.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.contacts.service import FactsCache
from kohtaamo.kit.clock import as_utc
from kohtaamo.realtime.presence import AgentLoad, Presence
from kohtaamo.rules.book import Compiled, RuleBook, Variant, in_hours
from kohtaamo.rules.context import Context, Future, build
from kohtaamo.rules.exposures import ExposureLog
from kohtaamo.rules.js import truthy
from kohtaamo.rules.marks import Marks, VisitKey
from kohtaamo.rules.models import Exposure, Outcome
from kohtaamo.rules.people import People, arm
from kohtaamo.rules.raw import RawStore
from kohtaamo.rules.timing import HORIZON, first_true, instants
from kohtaamo.shops.directory import Site
from kohtaamo.tracking.live import State
from kohtaamo.tracking.service import Decision

log = logging.getLogger(__name__)
DECISIONS = Counter("kohtaamo_rule_decisions_total", "Rule decisions by outcome", ["outcome"])
# Other workers' exposures reach this worker's per-visitor cap memory within this many seconds.
LAST_EXPOSED_TTL = 30.0
BUSY_RECHECK = 30.0  # seconds: a rule held back only by busy agents is asked again this soon
# (workspace, visitor) -> is a conversation going on? Injected by the app (chat is a higher layer).
ChatOpen = Callable[[int, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: Compiled
    outcome: Outcome
    reason: str | None = None
    variant: Variant | None = None  # fired: the person's variant (ADR 0013)


class Engine:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        book: RuleBook,
        marks: Marks,
        presence: Presence,
        facts: FactsCache,
        default_max_load: float = 0.5,
        presence_ttl: float = 1.0,
        raw: RawStore | None = None,
        chat_open: ChatOpen | None = None,
    ) -> None:
        self._maker = maker
        self._chat_open = chat_open
        self._log = ExposureLog(maker, raw=raw)
        self._raw = raw
        self.book = book
        self._marks = marks
        self._presence = presence
        self._facts = facts
        self._default_max_load = default_max_load
        self.presence_ttl = presence_ttl
        self._loads: dict[int, tuple[float, AgentLoad]] = {}
        self._seen: OrderedDict[VisitKey, dict[int, int]] = OrderedDict()  # per-visit fired counts
        # (workspace, visitor) -> (expires, {rule: (when, visit)}): the per-visitor cap's memory.
        self._last_exposed: dict[tuple[int, str], tuple[float, dict[int, tuple[float, str]]]] = {}
        self._people = People(maker, raw)  # identified visits: the customer's arms and caps

    def _remember(self, visit: VisitKey, fired: dict[int, int]) -> None:
        if not fired:
            return
        self._seen[visit] = dict(fired)
        self._seen.move_to_end(visit)
        while len(self._seen) > 100_000:
            self._seen.popitem(last=False)

    async def agents(self, workspace_id: int) -> AgentLoad:
        hit = self._loads.get(workspace_id)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        load = await self._presence.snapshot(workspace_id)
        self._loads[workspace_id] = (now + self.presence_ttl, load)
        return load

    async def context(self, site: Site, state: State, *, now: float) -> Context:
        cid = state.get("customer_id")
        facts = await self._facts.get(site.workspace_id, cid) if cid else None
        agents = await self.agents(site.workspace_id)
        return build(state, now=now, tz=site.timezone, agents=agents, customer=facts)

    async def decide(self, site: Site, state: State, *, now: float) -> Decision:
        ruleset = await self.book.rules(site.workspace_id)
        if not ruleset.rules:
            return Decision()
        ctx = await self.context(site, state, now=now)
        visit: VisitKey = (site.workspace_id, state["visitor_id"], state["visit_id"])
        matching, waiting = ruleset.match(ctx)
        if matching:
            fired = await self._marks.fired(visit)
        else:
            # Only for timers: this worker's last view is enough (a stale one costs one check).
            fired = dict(self._seen.get(visit, {}))
        records: list[dict[str, Any]] = []
        tokens: list[str] = []  # once-per-visit suppression marks taken by this decision
        action: dict[str, Any] | None = None
        acted: Compiled | None = None  # fired or held out: the moment is used
        busy = False
        done: set[int] = set()  # rules that cannot act again in this visit, whatever the clock
        closed: set[int] = set()  # true now but outside their active hours
        for rule in matching:
            verdict = await self._judge(rule, ctx, state, fired, now=now)
            if verdict.outcome is Outcome.suppressed:
                busy = busy or verdict.reason == "agents_busy"
                if verdict.reason in ("cap_visit", "cap_days"):
                    done.add(rule.id)
                elif verdict.reason == "hours":
                    closed.add(rule.id)
                # A repeat of a per-visit cap is not a new decision; the rest are, once a visit.
                token = f"{rule.id}:{verdict.reason}"
                if verdict.reason != "cap_visit" and await self._marks.once(visit, token):
                    tokens.append(token)
                    records.append(self._exposure(site, state, verdict, ctx, now, None))
                continue
            if not await self._marks.claim(visit, rule.id, rule.cap_per_visit):
                continue  # another worker fired it for this visit a moment ago
            acted = rule
            variant = verdict.variant
            row = self._exposure(site, state, verdict, ctx, now, variant.key if variant else None)
            records.append(row)
            if verdict.outcome is Outcome.fired:
                action = _action(rule, site, variant.messages if variant else None, ctx)
                action["variant"] = variant.key if variant else None
            break
        if records:
            try:
                ids = await self._log.write(records)
            except Exception:
                log.exception("exposures could not be stored")
                # Give back what this decision took, so the next event decides afresh.
                if acted is not None:
                    await self._marks.release(visit, acted.id)
                for token in tokens:
                    await self._marks.forget(visit, token)
                return Decision()  # an unrecorded firing would skew the experiment: show nothing
            for row, row_id in zip(records, ids, strict=True):
                DECISIONS.labels(row["outcome"]).inc()
                if action is not None and row["outcome"] == Outcome.fired:
                    action["exposure_id"] = row_id
        if acted is not None:
            fired[acted.id] = fired.get(acted.id, 0) + 1
            known = self._last_exposed.get((site.workspace_id, state["visitor_id"]))
            if known is not None:
                known[1][acted.id] = (now, state["visit_id"])
            person = self._people.cached(state) if state.get("customer_id") else None
            if person is not None:
                out = Outcome.fired if action is not None else Outcome.held_out
                person.exposed(acted.id, out, action["variant"] if action else None, state, now)
            # The moment is used: rules held back by busy agents or closed hours wait for the
            # next event, never for a timer right after this one acted (two actions in a row).
            closed.clear()
            busy = False
        if matching:
            self._remember(visit, fired)
        # A rule true now has had its decision (or lost the moment: it gets its chance at the
        # next event); only rules false now, or waiting for their hours, need a timer.
        done.update(r.id for r in matching if r.id not in closed)
        if closed:
            waiting = waiting + [r for r in matching if r.id in closed]
        check_in = self._next_check(waiting, ctx, state, fired, done, site=site, now=now)
        if busy and ctx["page"]["idle_seconds"] < HORIZON:
            # Agents may free up: ask again soon, while the visitor is still around.
            check_in = min(check_in or BUSY_RECHECK, BUSY_RECHECK)
        return Decision(actions=[action] if action else [], check_in=check_in)

    async def _judge(
        self, rule: Compiled, ctx: Context, state: State, fired: dict[int, int], *, now: float
    ) -> Verdict:
        if fired.get(rule.id, 0) >= rule.cap_per_visit:
            return Verdict(rule, Outcome.suppressed, "cap_visit")
        if rule.cap_days and await self._recently_exposed(rule, state, now=now):
            return Verdict(rule, Outcome.suppressed, "cap_days")
        if not in_hours(rule.hours, ctx["now"]):
            return Verdict(rule, Outcome.suppressed, "hours")
        if self._chat_open is not None and await self._chat_open(
            state["workspace_id"], state["visitor_id"]
        ):
            # The visitor is talking with the shop: a rule's line would land outside the
            # conversation (issue 12, ADR 0012). Before the arm, so both arms lose it alike.
            return Verdict(rule, Outcome.suppressed, "chat_open")
        if rule.needs_agents:
            agents = ctx["agents"]
            offline = rule.action.get("offline", "leave_message")
            if agents["online"] == 0:
                # Nobody to answer: "leave a message", unless the rule stays quiet or needs
                # a free agent to be worth showing at all.
                if offline == "quiet" or rule.min_free_agents > 0:
                    return Verdict(rule, Outcome.suppressed, "nobody_online")
            elif agents["free_slots"] < rule.min_free_agents or (
                rule.is_default
                and (agents["free_slots"] < 1 or agents["load"] >= self._default_max_load)
            ):
                return Verdict(rule, Outcome.suppressed, "agents_busy")
        # The person's arm: the customer's once identified, else this device's (ADR 0013).
        customer = state.get("customer_id")
        if customer:
            first = (await self._people.get(state)).first.get(rule.id)
            held, variant = arm(rule, customer, first)
        else:
            held, variant = arm(rule, state["visitor_id"], None)
        if held:
            return Verdict(rule, Outcome.held_out)
        return Verdict(rule, Outcome.fired, variant=variant)

    async def _recently_exposed(self, rule: Compiled, state: State, *, now: float) -> bool:
        """Exposed (fired or held out) in another visit of this person within `cap_days`."""
        assert rule.cap_days
        if state.get("customer_id"):  # the customer's exposures on any of their devices
            return (await self._people.get(state)).capped(rule.id, rule.cap_days, state, now)
        if state.get("number", 1) <= 1 and not state.get("customer_id"):
            return False  # a first visit has no other visits to have been exposed in
        last = (await self._history(state)).get(rule.id)
        if last is None or last[1] == state["visit_id"]:
            return False
        return now - last[0] < timedelta(days=rule.cap_days).total_seconds()

    def _capped_by_days(self, rule: Compiled, state: State, now: float) -> bool:
        """The per-person cap, from what this worker already knows (no query on this path)."""
        person = self._people.cached(state) if state.get("customer_id") else None
        if person is not None and rule.cap_days is not None:
            return person.capped(rule.id, rule.cap_days, state, now)
        hit = self._last_exposed.get((state["workspace_id"], state["visitor_id"]))
        last = hit[1].get(rule.id) if hit else None
        if last is None or last[1] == state["visit_id"] or rule.cap_days is None:
            return False
        return now - last[0] < timedelta(days=rule.cap_days).total_seconds()

    async def _history(self, state: State) -> dict[int, tuple[float, str]]:
        """rule -> (when, visit) of this visitor's last exposure to it: one query per visitor."""
        key = (state["workspace_id"], state["visitor_id"])
        hit = self._last_exposed.get(key)
        if hit is not None and hit[0] >= time.monotonic():
            return hit[1]
        rows = await self._exposed(state["workspace_id"], state["visitor_id"])
        history: dict[int, tuple[float, str]] = {}
        for rule_id, at, visit in rows:
            stamp = as_utc(at).timestamp()
            if rule_id not in history or stamp > history[rule_id][0]:
                history[rule_id] = (stamp, visit)
        if len(self._last_exposed) > 100_000:
            self._last_exposed.clear()
        self._last_exposed[key] = (time.monotonic() + LAST_EXPOSED_TTL, history)
        return history

    async def _exposed(self, workspace_id: int, visitor: str) -> list[Any]:
        if self._raw is not None:  # the tracking writer's raw driver: no SQLAlchemy cost
            return await self._raw.exposed(workspace_id, visitor)
        async with self._maker() as session:
            stmt = select(Exposure.rule_id, Exposure.at, Exposure.visit_key).where(
                Exposure.workspace_id == workspace_id,
                Exposure.visitor_key == visitor,
                Exposure.outcome.in_((Outcome.fired, Outcome.held_out)),
            )
            return list((await session.execute(stmt)).all())

    def _exposure(
        self,
        site: Site,
        state: State,
        verdict: Verdict,
        ctx: Context,
        now: float,
        variant: str | None,
    ) -> dict[str, Any]:
        return {
            "workspace_id": site.workspace_id,
            "rule_id": verdict.rule.id,
            "visitor_key": state["visitor_id"],
            "visit_key": state["visit_id"],
            "customer_id": state.get("customer_id"),
            "at": datetime.fromtimestamp(now, UTC),
            "outcome": verdict.outcome.value,
            "variant": variant,
            "reason": verdict.reason,
            "context": None if verdict.outcome is Outcome.suppressed else ctx,
        }

    def _next_check(
        self,
        rules: list[Compiled],
        ctx: Context,
        state: State,
        fired: dict[int, int],
        done: set[int],
        *,
        site: Site,
        now: float,
    ) -> float | None:
        best: float | None = None
        future: Future | None = None
        for rule in rules:
            if rule.id in done or fired.get(rule.id, 0) >= rule.cap_per_visit:
                continue
            if rule.cap_days and self._capped_by_days(rule, state, now):
                continue  # it would only be suppressed: no use waking the widget for it
            closed = rule.hours if not in_hours(rule.hours, ctx["now"]) else None
            if not rule.clock.timed and closed is None:
                continue
            ts = instants(rule.clock, state, now=now, tz=site.timezone, hours=closed)
            if best is not None:
                ts = [t for t in ts if t < best]
            if not ts:
                continue

            def holds(c: Context, _at: float, rule: Compiled = rule) -> bool:
                try:
                    return bool(truthy(rule.test(c))) and in_hours(rule.hours, c["now"])
                except Exception:
                    return False  # a failing rule never fires (book.py counts and logs it)

            future = future or Future(ctx, state, site.timezone)
            at = first_true(ts, future, holds=holds)
            if at is not None and (best is None or at < best):
                best = at
        return None if best is None else round(best - now, 3)


def _action(
    rule: Compiled, site: Site, messages: dict[str, str] | None, ctx: Context
) -> dict[str, Any]:
    base = rule.action
    msgs = messages or dict(base.get("messages") or {})
    text = msgs.get(site.locale) or next(iter(msgs.values()), "")
    out: dict[str, Any] = {
        "type": base.get("type", "open_chat"),
        "rule_id": rule.id,
        "goal": rule.goal,
        "message": text,
        "messages": msgs,
        "persona": base.get("persona"),
    }
    if out["type"] == "open_chat":
        out["mode"] = "chat" if ctx["agents"]["online"] > 0 else "leave_message"
    elif out["type"] == "suggest_product":
        out["product_id"] = base.get("product_id")
    return out

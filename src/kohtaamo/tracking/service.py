"""Tracking: store a checked batch (once per event id), fold it into live state, read it back."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.bus import Bus, Event
from kohtaamo.config import Settings
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Forbidden, NotFound, RateLimited, Unavailable
from kohtaamo.kit.ratelimit import RateLimiter
from kohtaamo.shops.directory import Site
from kohtaamo.tracking.ingest import Ingestor, QueueFull, Submission
from kohtaamo.tracking.intake import Intake, check_events, read_envelope
from kohtaamo.tracking.live import LiveEvent, LiveStore, State
from kohtaamo.tracking.models import TrackedEvent, Visit, Visitor
from kohtaamo.tracking.schemas import TrackBatch, TrackResult
from kohtaamo.tracking.writer import StorageError

log = logging.getLogger(__name__)
EVENTS = Counter("kohtaamo_events_total", "Tracked events by outcome", ["outcome"])
LIVE_FAILURES = Counter("kohtaamo_live_state_failures_total", "Live state updates that failed")
DECISION_FAILURES = Counter("kohtaamo_rule_decision_failures_total", "Rule decisions that failed")
for _outcome in ("accepted", "duplicate", "rejected"):
    EVENTS.labels(_outcome)


@dataclass(slots=True)
class Decision:
    """What the widget should do now, and when to ask again (seconds; None: only on events)."""

    actions: list[dict[str, Any]] = field(default_factory=list)
    check_in: float | None = None


class Decider(Protocol):
    """The rule engine, as tracking sees it: injected by the app (rules sit above tracking)."""

    async def decide(self, site: Site, state: State, *, now: float) -> Decision: ...


@dataclass(slots=True)
class Tracker:
    """What the tracking path needs at run time; built once by the app."""

    settings: Settings
    ingestor: Ingestor
    live: LiveStore
    limiter: RateLimiter
    decider: Decider | None = None
    clock: Callable[[], float] = time.time  # epoch seconds; tests move it to drive timers
    bus: Bus | None = None  # stored purchases are announced here (commerce records them)


@dataclass(frozen=True, slots=True)
class PurchaseSeen(Event):
    """The widget saw a purchase (its thank-you page): commerce records it as an unconfirmed
    order, which the shop server's report of the same order id confirms."""

    order_id: str
    value: int
    currency: str
    visitor_key: str
    customer_id: str | None
    at: datetime


def envelope(tracker: Tracker, payload: object) -> TrackBatch:
    try:
        return read_envelope(payload, max_events=tracker.settings.track_max_events)
    except Exception:
        EVENTS.labels("rejected").inc(_count(payload))
        raise


def _count(payload: object) -> int:
    events = payload.get("events") if isinstance(payload, dict) else None
    return len(events) if isinstance(events, list) else 1


async def throttle(tracker: Tracker, site: Site, n_events: int, bucket: str = "track") -> None:
    """Per-site request rate; timer check-backs (`decide`) have their own bucket, so many open
    pages asking again never crowd out the events themselves."""
    s = tracker.settings
    verdict = await tracker.limiter.hit(
        f"{bucket}:{site.workspace_id}", rate=s.track_rate_per_site, burst=s.track_burst_per_site
    )
    if not verdict.allowed:
        EVENTS.labels("rejected").inc(n_events)
        raise RateLimited(
            f"this site sends more than {s.track_rate_per_site:g} requests a second",
            retry_after=verdict.retry_after,
        )


def check(tracker: Tracker, batch: TrackBatch, *, may_hold_nul: bool = True) -> Intake:
    s = tracker.settings
    try:
        return check_events(
            batch,
            now=utcnow(),
            future_skew=timedelta(seconds=s.track_future_skew_seconds),
            max_props_bytes=s.track_max_props_bytes,
            may_hold_nul=may_hold_nul,
        )
    except Exception:
        EVENTS.labels("rejected").inc(len(batch.events))
        raise


def identity_signature(secret: str, customer_id: str) -> str:
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def verify_identity(site: Site, intake: Intake, source: str) -> None:
    """With identity verification on, a browser's `identify` must carry the shop server's
    signature of the customer id; without it anyone could claim a customer's orders and chats.
    The secret API key's calls are trusted. Signatures are never stored."""
    for ev in intake.events:
        if ev.type != "identify":
            continue
        sent = ev.props.pop("signature", None)
        if site.identity_secret is None or source == "server":
            continue
        expected = identity_signature(site.identity_secret, ev.props["customer_id"])
        if not isinstance(sent, str) or not hmac.compare_digest(sent.lower(), expected):
            raise Forbidden(
                "identify needs props.signature: hex HMAC-SHA256 of the customer id with the "
                "workspace's identity secret, made by the shop's server"
                + (" (this one does not match)" if sent else ""),
                field="props.signature",
            )


async def track(
    tracker: Tracker, *, site: Site, intake: Intake, source: str
) -> tuple[TrackResult, State]:
    """Store the batch (committed before this returns), then update the visit's live state."""
    try:
        stored = await tracker.ingestor.submit(Submission(site.workspace_id, intake, source))
    except (StorageError, QueueFull, RuntimeError) as exc:
        # Nothing of the batch was committed: the client keeps it and retries later.
        log.warning("tracking write failed", extra={"error": repr(exc)})
        raise Unavailable(
            "events could not be stored right now; nothing was stored, retry later",
            retry_after=2,
        ) from exc
    # Each id once, first copy wins (as in the writer), so a repeat inside a batch counts once.
    fresh = set(stored.accepted)
    new = []
    for ev in intake.events:
        if ev.id.hex in fresh:
            fresh.discard(ev.id.hex)
            new.append(ev)
    EVENTS.labels("accepted").inc(len(stored.accepted))
    EVENTS.labels("duplicate").inc(stored.duplicates)
    key = (site.workspace_id, intake.visitor_key, intake.visit_key)
    shift = _clock_shift(tracker, intake, source)
    try:
        state = await tracker.live.update(
            key,
            [LiveEvent(ev.type, ev.ts.timestamp() + shift, ev.props) for ev in new],
            number=stored.visit_number,
            customer_id=intake.customer_id,
            currency=site.currency,
        )
    except Exception:
        # The events are committed: the answer must say so. Rules see this visit from its next
        # event on; a failing live store never turns a stored batch into an error.
        LIVE_FAILURES.inc()
        log.exception("live state update failed", extra={"visit": list(key)})
        state = {}
    if tracker.bus is not None:
        # The events are committed, so reactions may act on them now.
        for ev in new:
            if ev.type == "purchase":
                await tracker.bus.dispatch(
                    PurchaseSeen(
                        workspace_id=site.workspace_id,
                        order_id=ev.props["order_id"],
                        value=ev.props["value"],
                        currency=ev.props["currency"],
                        visitor_key=intake.visitor_key,
                        customer_id=intake.customer_id or state.get("customer_id"),
                        at=ev.ts,
                    )
                )
    decision = await decide(tracker, site, state) if state else Decision()
    result = TrackResult(
        accepted=len(stored.accepted),
        duplicates=stored.duplicates,
        clamped=sum(1 for ev in new if ev.clamped),
        visit_number=stored.visit_number,
        returning=stored.visit_number > 1,
        actions=decision.actions,
        check_in=decision.check_in,
    )
    return result, state


def _clock_shift(tracker: Tracker, intake: Intake, source: str) -> float:
    """Seconds to add to a browser's event times to put them on the server's clock.

    Rules time idleness and time on page from these, so a visitor's clock that is two minutes
    slow must not make "90 s idle" true at once (nor a fast one delay it). The batch's `sent_at`
    (the browser's clock when it sent) against our clock gives the difference; without it, the
    newest event is taken to have just happened. The stored events keep the browser's times;
    a shop's server is trusted to send its own, true times.
    """
    if source != "widget" or not intake.events:
        return 0.0
    sent = intake.sent_at
    if sent is None:
        sent = max(ev.ts.timestamp() for ev in intake.events)
    return tracker.clock() - sent


async def decide(tracker: Tracker, site: Site, state: State) -> Decision:
    """Run the rules on a visit's state; a failing engine never fails the request."""
    if tracker.decider is None:
        return Decision()
    try:
        return await tracker.decider.decide(site, state, now=tracker.clock())
    except Exception:
        DECISION_FAILURES.inc()
        log.exception("rule decision failed", extra={"workspace": site.workspace_id})
        return Decision()


async def check_back(tracker: Tracker, *, site: Site, visitor_key: str, visit_key: str) -> Decision:
    """The widget's timer went off (`check_in`): decide again on the stored state, no event."""
    try:
        state = await tracker.live.get((site.workspace_id, visitor_key, visit_key))
    except Exception:
        LIVE_FAILURES.inc()
        log.exception("live state read failed")
        return Decision()
    if not state:
        return Decision()
    return await decide(tracker, site, state)


async def list_visitors(
    session: AsyncSession, workspace_id: int, *, limit: int, before_id: int | None = None
) -> list[Visitor]:
    stmt = select(Visitor).where(Visitor.workspace_id == workspace_id)
    if before_id is not None:
        stmt = stmt.where(Visitor.id < before_id)
    stmt = stmt.order_by(Visitor.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def get_visitor(session: AsyncSession, workspace_id: int, visitor_key: str) -> Visitor:
    stmt = select(Visitor).where(Visitor.workspace_id == workspace_id, Visitor.key == visitor_key)
    visitor = (await session.execute(stmt)).scalar_one_or_none()
    if visitor is None:
        raise NotFound("no such visitor", field="visitor_id")
    return visitor


async def visits_of(session: AsyncSession, workspace_id: int, visitor_key: str) -> list[Visit]:
    stmt = (
        select(Visit)
        .where(Visit.workspace_id == workspace_id, Visit.visitor_key == visitor_key)
        .order_by(Visit.started_at)
    )
    return list((await session.execute(stmt)).scalars())


async def events_of(
    session: AsyncSession, workspace_id: int, visitor_key: str, *, limit: int
) -> list[TrackedEvent]:
    stmt = (
        select(TrackedEvent)
        .where(TrackedEvent.workspace_id == workspace_id, TrackedEvent.visitor_key == visitor_key)
        .order_by(TrackedEvent.ts.desc(), TrackedEvent.seq.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())

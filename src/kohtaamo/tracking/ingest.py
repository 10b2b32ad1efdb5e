"""Group commit for tracked events (ADR 0005).

Requests that arrive while a transaction is being written wait together for the next one: each
request still gets its answer only after its events are committed, but one commit (and one
multi-row statement per table) serves many requests. A group that fails is retried one request
at a time, so one bad batch cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import utcnow
from kohtaamo.tracking.intake import Intake
from kohtaamo.tracking.writer import GroupRows, GroupWriter, VisitKey, Written

log = logging.getLogger(__name__)
Pending = tuple["Submission", "asyncio.Future[Stored]"]


class QueueFull(RuntimeError):
    """More events are waiting than the database is taking: shed load (503) instead of memory."""


@dataclass(slots=True)
class Submission:
    workspace_id: int
    intake: Intake
    source: str
    received_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Stored:
    accepted: list[str]  # event ids (32 hex digits) stored for the first time
    duplicates: int
    visit_number: int


class Ingestor:
    def __init__(
        self, writer: GroupWriter, *, max_group_events: int = 5000, max_queued_events: int = 200_000
    ) -> None:
        self._writer = writer
        self._max = max_group_events
        self._max_queued = max_queued_events
        self._queued = 0
        self._queue: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(writer.parallel)
        self._task: asyncio.Task[None] | None = None
        self._writing: set[asyncio.Task[None]] = set()
        self.groups = 0  # transactions written, for tests and metrics

    def start(self) -> None:
        # Also restarts a writer loop that died, so a bug there cannot leave requests waiting.
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ingestor")

    async def stop(self, drain_seconds: float = 30.0) -> None:
        if self._task is None:
            return
        # Drain what was accepted into the queue before stopping: nothing queued is lost.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_seconds
        while (self._queue or self._writing) and not self._task.done() and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(0.01)
        self._task.cancel()
        self._task = None
        while self._queue:  # only if the writer could not drain: tell the waiters, do not hang
            _, fut = self._queue.popleft()
            if not fut.done():
                fut.set_exception(RuntimeError("the server is stopping; send the batch again"))
        await self._writer.close()

    async def submit(self, sub: Submission) -> Stored:
        self.start()
        if self._queued + len(sub.intake.events) > self._max_queued:
            raise QueueFull(f"{self._queued} events are already waiting to be written")
        fut: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queued += len(sub.intake.events)
        self._queue.append((sub, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()  # at most `parallel` groups in flight
                group = self._take()
                task = asyncio.get_running_loop().create_task(self._write_group(group))
                self._writing.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        self._slots.release()

    def _take(self) -> list[Pending]:
        group: list[Pending] = []
        n = 0
        while self._queue and (not group or n + len(self._queue[0][0].intake.events) <= self._max):
            item = self._queue.popleft()
            group.append(item)
            n += len(item[0].intake.events)
            self._queued -= len(item[0].intake.events)
        return group

    async def _write_group(self, group: list[Pending]) -> None:
        try:
            subs = [s for s, _ in group]
            results = split(subs, await self._writer.write(rows_of(subs)))
            self.groups += 1
        except Exception as exc:
            if len(group) == 1:
                if not group[0][1].done():
                    group[0][1].set_exception(exc)
                return
            log.warning("group write failed, retrying one by one", extra={"size": len(group)})
            for item in group:
                await self._write_group([item])
            return
        for (_, fut), res in zip(group, results, strict=True):
            if not fut.done():
                fut.set_result(res)


def rows_of(subs: list[Submission]) -> GroupRows:
    """Merge the group's batches into one row per visitor and visit, and sort every list by key."""
    visitors: dict[tuple[int, str], list[Any]] = {}
    visits: dict[VisitKey, list[Any]] = {}
    events: dict[tuple[int, str], tuple[Any, ...]] = {}
    for sub in subs:
        it = sub.intake
        ws = sub.workspace_id
        first, last = it.events[0].ts, it.events[-1].ts
        row = visitors.get((ws, it.visitor_key))
        if row is None:
            visitors[(ws, it.visitor_key)] = [ws, it.visitor_key, first, last, it.customer_id]
        else:
            row[2], row[3] = min(first, row[2]), max(last, row[3])
            row[4] = it.customer_id or row[4]
        key = (ws, it.visitor_key, it.visit_key)
        land = it.landing
        vrow = visits.get(key)
        if vrow is None:
            vrow = visits[key] = [
                ws,
                it.visitor_key,
                it.visit_key,
                first,
                last,
                None,
                None,
                None,
                None,
                None,
                None,
                it.customer_id,
            ]
        else:
            vrow[3], vrow[4] = min(first, vrow[3]), max(last, vrow[4])
            vrow[11] = it.customer_id or vrow[11]
        if land is not None and vrow[5] is None:
            vrow[5:11] = [
                land.url,
                land.referrer,
                land.utm_source,
                land.utm_medium,
                land.utm_campaign,
                land.newsletter_id,
            ]
        for ev in it.events:
            ek = (ws, ev.id.hex)
            if ek not in events:  # a second copy in the group is the same event
                events[ek] = (
                    ws,
                    ev.id.hex,
                    it.visitor_key,
                    it.visit_key,
                    ev.type,
                    ev.ts,
                    sub.received_at,
                    jsonx.dumps_str(ev.props),
                    ev.clamped,
                    sub.source,
                )
    return GroupRows(
        visitors=[tuple(visitors[k]) for k in sorted(visitors)],
        visits=[tuple(visits[k]) for k in sorted(visits)],
        events=[events[k] for k in sorted(events)],
    )


def split(subs: list[Submission], written: Written) -> list[Stored]:
    """Each request's share: its newly stored ids; a second copy of an id counts as a duplicate."""
    inserted = set(written.inserted)
    out: list[Stored] = []
    for sub in subs:
        mine: list[str] = []
        for ev in sub.intake.events:
            key = (sub.workspace_id, ev.id.hex)
            if key in inserted:
                inserted.discard(key)
                mine.append(ev.id.hex)
        visit = (sub.workspace_id, sub.intake.visitor_key, sub.intake.visit_key)
        out.append(Stored(mine, len(sub.intake.events) - len(mine), written.numbers[visit]))
    return out

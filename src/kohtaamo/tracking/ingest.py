"""Group commit for tracked events (ADR 0005).

Requests that arrive while a transaction is being written wait together for the next one: each
request still gets its answer only after its events are committed, but one commit (and one
multi-row INSERT per table) serves many requests. A group that fails is retried one request at a
time, so one bad batch cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kohtaamo.db.upsert import insert_for
from kohtaamo.kit.clock import utcnow
from kohtaamo.tracking.intake import Intake
from kohtaamo.tracking.models import TrackedEvent, Visit, Visitor

log = logging.getLogger(__name__)
V = cast(Table, Visitor.__table__)
S = cast(Table, Visit.__table__)
E = cast(Table, TrackedEvent.__table__)


@dataclass(slots=True)
class Submission:
    workspace_id: int
    intake: Intake
    source: str
    received_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Stored:
    accepted: list[uuid.UUID]
    duplicates: int
    visit_number: int


class Ingestor:
    def __init__(self, engine: AsyncEngine, *, max_group_events: int = 5000) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._max = max_group_events
        self._queue: deque[tuple[Submission, asyncio.Future[Stored]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.groups = 0  # for tests and metrics: how many transactions were written

    def start(self) -> None:
        # Also restarts a writer that died, so a bug there cannot leave requests waiting forever.
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ingestor")

    async def stop(self, drain_seconds: float = 30.0) -> None:
        if self._task is None:
            return
        # Drain what was accepted into the queue before stopping: nothing queued is lost.
        deadline = asyncio.get_running_loop().time() + drain_seconds
        while (
            self._queue and not self._task.done() and asyncio.get_running_loop().time() < deadline
        ):
            self._wake.set()
            await asyncio.sleep(0.01)
        self._task.cancel()
        self._task = None
        while self._queue:  # only if the writer could not drain: tell the waiters, do not hang
            _, fut = self._queue.popleft()
            if not fut.done():
                fut.set_exception(RuntimeError("the server is stopping; send the batch again"))

    async def submit(self, sub: Submission) -> Stored:
        self.start()
        fut: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.append((sub, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group: list[tuple[Submission, asyncio.Future[Stored]]] = []
                n = 0
                while self._queue and (
                    not group or n + len(self._queue[0][0].intake.events) <= self._max
                ):
                    item = self._queue.popleft()
                    group.append(item)
                    n += len(item[0].intake.events)
                await self._write_group(group)

    async def _write_group(self, group: list[tuple[Submission, asyncio.Future[Stored]]]) -> None:
        try:
            results = await self._write([s for s, _ in group])
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

    async def _write(self, subs: list[Submission]) -> list[Stored]:
        async with self._engine.begin() as conn:
            numbers = await self._upsert_visitors_and_visits(conn, subs)
            inserted = await self._insert_events(conn, subs)
        self.groups += 1
        out: list[Stored] = []
        for sub in subs:
            mine: list[uuid.UUID] = []
            for ev in sub.intake.events:
                key = (sub.workspace_id, ev.id)
                if key in inserted:
                    inserted.discard(
                        key
                    )  # a second copy of the same id in this group is a duplicate
                    mine.append(ev.id)
            visit = (sub.workspace_id, sub.intake.visitor_key, sub.intake.visit_key)
            out.append(Stored(mine, len(sub.intake.events) - len(mine), numbers[visit]))
        return out

    async def _upsert_visitors_and_visits(
        self, conn: AsyncConnection, subs: list[Submission]
    ) -> dict[tuple[int, str, str], int]:
        visitors: dict[tuple[int, str], dict[str, Any]] = {}
        visits: dict[tuple[int, str, str], dict[str, Any]] = {}
        for sub in subs:
            it = sub.intake
            first, last = it.events[0].ts, it.events[-1].ts
            vk = (sub.workspace_id, it.visitor_key)
            row = visitors.setdefault(
                vk,
                {
                    "workspace_id": vk[0],
                    "key": vk[1],
                    "first_seen_at": first,
                    "last_seen_at": last,
                    "visit_count": 0,
                    "customer_id": None,
                },
            )
            row["first_seen_at"] = min(first, row["first_seen_at"])
            row["last_seen_at"] = max(last, row["last_seen_at"])
            row["customer_id"] = it.customer_id or row["customer_id"]
            sk = (sub.workspace_id, it.visitor_key, it.visit_key)
            land = it.landing
            srow = visits.setdefault(
                sk,
                {
                    "workspace_id": sk[0],
                    "visitor_key": sk[1],
                    "key": sk[2],
                    "number": None,
                    "started_at": first,
                    "last_event_at": last,
                    "landing_url": None,
                    "referrer": None,
                    "utm_source": None,
                    "utm_medium": None,
                    "utm_campaign": None,
                    "newsletter_id": None,
                    "customer_id": None,
                },
            )
            srow["started_at"] = min(first, srow["started_at"])
            srow["last_event_at"] = max(last, srow["last_event_at"])
            srow["customer_id"] = it.customer_id or srow["customer_id"]
            if land is not None and srow["landing_url"] is None:
                srow.update(
                    landing_url=land.url,
                    referrer=land.referrer,
                    utm_source=land.utm_source,
                    utm_medium=land.utm_medium,
                    utm_campaign=land.utm_campaign,
                    newsletter_id=land.newsletter_id,
                )

        # Sorted keys give every writer the same lock order on PostgreSQL: no deadlocks.
        ins = insert_for(self._dialect, V)
        await conn.execute(
            ins.on_conflict_do_update(
                index_elements=[V.c.workspace_id, V.c.key],
                set_={
                    "first_seen_at": case(
                        (
                            ins.excluded.first_seen_at < V.c.first_seen_at,
                            ins.excluded.first_seen_at,
                        ),
                        else_=V.c.first_seen_at,
                    ),
                    "last_seen_at": case(
                        (ins.excluded.last_seen_at > V.c.last_seen_at, ins.excluded.last_seen_at),
                        else_=V.c.last_seen_at,
                    ),
                    "customer_id": _coalesce(ins.excluded.customer_id, V.c.customer_id),
                },
            ),
            [visitors[k] for k in sorted(visitors)],
        )
        ins = insert_for(self._dialect, S)
        keep = (
            "landing_url",
            "referrer",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "newsletter_id",
        )
        stmt = ins.on_conflict_do_update(
            index_elements=[S.c.workspace_id, S.c.visitor_key, S.c.key],
            set_={
                "started_at": case(
                    (ins.excluded.started_at < S.c.started_at, ins.excluded.started_at),
                    else_=S.c.started_at,
                ),
                "last_event_at": case(
                    (ins.excluded.last_event_at > S.c.last_event_at, ins.excluded.last_event_at),
                    else_=S.c.last_event_at,
                ),
                "customer_id": _coalesce(ins.excluded.customer_id, S.c.customer_id),
                **{c: _coalesce(S.c[c], ins.excluded[c]) for c in keep},
            },
        ).returning(S.c.id, S.c.workspace_id, S.c.visitor_key, S.c.key, S.c.number)
        numbers: dict[tuple[int, str, str], int] = {}
        fresh: list[tuple[int, tuple[int, str, str]]] = []
        for ret in await conn.execute(stmt, [visits[k] for k in sorted(visits)]):
            k = (ret.workspace_id, ret.visitor_key, ret.key)
            if ret.number is None:
                fresh.append((ret.id, k))
            else:
                numbers[k] = ret.number
        # A new visit takes the next number from its visitor's row: an atomic increment, so two
        # workers that see two new visits of one visitor at once still number them 1 and 2.
        for visit_id, k in sorted(fresh, key=lambda f: visits[f[1]]["started_at"]):
            n = (
                await conn.execute(
                    update(V)
                    .where(V.c.workspace_id == k[0], V.c.key == k[1])
                    .values(visit_count=V.c.visit_count + 1)
                    .returning(V.c.visit_count)
                )
            ).scalar_one()
            await conn.execute(update(S).where(S.c.id == visit_id).values(number=n))
            numbers[k] = n
        return numbers

    async def _insert_events(
        self, conn: AsyncConnection, subs: list[Submission]
    ) -> set[tuple[int, uuid.UUID]]:
        rows = [
            {
                "workspace_id": sub.workspace_id,
                "event_id": ev.id,
                "visitor_key": sub.intake.visitor_key,
                "visit_key": sub.intake.visit_key,
                "type": ev.type,
                "ts": ev.ts,
                "received_at": sub.received_at,
                "props": ev.props,
                "clamped": ev.clamped,
                "source": sub.source,
            }
            for sub in subs
            for ev in sub.intake.events
        ]
        ins = insert_for(self._dialect, E)
        stmt = ins.on_conflict_do_nothing(
            index_elements=[E.c.workspace_id, E.c.event_id]
        ).returning(E.c.workspace_id, E.c.event_id)
        result = await conn.execute(stmt, rows)
        return {(r.workspace_id, r.event_id) for r in result}


def _coalesce(a: object, b: object) -> object:
    return func.coalesce(a, b)


async def count_events(engine: AsyncEngine, workspace_id: int) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(E).where(E.c.workspace_id == workspace_id)
        return int((await conn.execute(stmt)).scalar_one())

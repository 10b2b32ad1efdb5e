"""Who fills the archive, and when its snapshots are published (ADR 0015).

Every filler — each server process (`KOHTAAMO_ANALYTICS_IN_SERVER`, the default) and `kohtaamo
archive` — runs the same pass under the fill lock: the one holding it opens the live file
read-write, fills it, and publishes a snapshot when something new came in; the others skip the
round. Passes across all processes are at most one per `every` seconds (the lock file says when
the last one ran), snapshots at most one per `snapshot_every` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.analytics import fill, snapshots
from kohtaamo.analytics.archive import Archive
from kohtaamo.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    path: str
    every: float = 15.0  # seconds between passes
    settle: float = fill.SETTLE
    snapshot_every: float = 15.0  # at most one snapshot per this many seconds


def plan_of(settings: Settings) -> Plan:
    return Plan(
        settings.analytics_path,
        every=settings.analytics_fill_seconds,
        settle=settings.analytics_settle_seconds,
        snapshot_every=settings.analytics_snapshot_seconds,
    )


@dataclass(frozen=True, slots=True)
class Pass:
    counts: dict[str, int]
    published: int | None  # the snapshot generation published, if any


async def run_pass(
    maker: async_sessionmaker[AsyncSession], plan: Plan, lock: snapshots.FillLock, *, force: bool
) -> Pass:
    """One pass, by the holder of `lock`; `force` publishes whatever is pending at once."""
    progress = lock.progress()
    archive = await asyncio.to_thread(Archive, plan.path)
    try:
        try:
            counts = await fill.fill(maker, archive, settle=plan.settle)
        except BaseException:
            progress.pending = True  # some sources may have moved: publish them next time
            lock.save(progress)
            raise
        pending = progress.pending or any(counts.values()) or not snapshots.current(plan.path)
        due = force or time.time() - progress.published >= plan.snapshot_every
        if pending and due:
            await asyncio.to_thread(archive.checkpoint)
    finally:
        await asyncio.to_thread(archive.close)
    published = None
    now = time.time()
    if pending and due:
        published = await asyncio.to_thread(snapshots.publish, plan.path)
        progress.published, pending = now, False
    progress.passed, progress.pending = now, pending
    lock.save(progress)
    return Pass(counts, published)


async def maybe_pass(maker: async_sessionmaker[AsyncSession], plan: Plan) -> Pass | None:
    """A pass if no other process is in one and none ran in the last `every` seconds."""
    lock = snapshots.FillLock(plan.path)
    if not await asyncio.to_thread(lock.try_acquire):
        return None
    try:
        # A little slack: timers of several processes drift; never skip a whole round.
        if time.time() - lock.progress().passed < plan.every * 0.9:
            return None
        return await run_pass(maker, plan, lock, force=False)
    finally:
        lock.release()


async def keep_filling(
    maker: async_sessionmaker[AsyncSession],
    plan: Plan,
    wait: Callable[[float], Awaitable[bool]],
) -> None:
    """Passes until `wait` (sleeping between them) says stop; a failed pass is retried next round."""
    while True:
        try:
            await maybe_pass(maker, plan)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("archive fill failed; retrying next round")
        if await wait(plan.every):
            return


class Filler:
    """A server process's share of the filling, on its own thread with its own event loop and
    connections: copying tens of thousands of rows through the ORM would otherwise hold the
    server's loop for tens of milliseconds a batch (a 50-rule /track p99 went from 58 ms to
    692 ms with the fill on the loop; docs/benchmarks.md)."""

    def __init__(self, database_url: str, plan: Plan) -> None:
        self._url = database_url
        self._plan = plan
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kohtaamo-archive", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        from kohtaamo.db.engine import make_engine, make_sessionmaker

        engine = make_engine(self._url, pool_size=1)
        try:

            async def wait(seconds: float) -> bool:
                return await asyncio.to_thread(self._stop.wait, seconds)

            await keep_filling(make_sessionmaker(engine), self._plan, wait)
        finally:
            await engine.dispose()

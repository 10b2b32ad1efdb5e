"""Write one group of tracked batches in one transaction, on the raw driver with fixed SQL.

This is the only code in Kohtaamo below SQLAlchemy (ADR 0005): the ingest path must write tens of
thousands of events a second, and SQLAlchemy's per-statement cost (compiling ON CONFLICT inserts,
bind processing, a thread hop per statement on aiosqlite) was three quarters of the request time.
The SQL targets the tables Alembic creates and stores values exactly as SQLAlchemy would read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

T = TypeVar("T")
VisitKey = tuple[int, str, str]
EventKey = tuple[int, str]  # (workspace_id, event id as 32 hex digits)


class StorageError(RuntimeError):
    """The database could not take the group (down, locked, busy): nothing of it was committed."""


@dataclass(slots=True)
class GroupRows:
    """Rows of one group, each list sorted by key (one lock order for every writer)."""

    # (workspace_id, key, first_seen_at, last_seen_at, customer_id)
    visitors: list[tuple[int, str, datetime, datetime, str | None]] = field(default_factory=list)
    # (workspace_id, visitor_key, key, started_at, last_event_at, landing_url, referrer,
    #  utm_source, utm_medium, utm_campaign, newsletter_id, customer_id)
    visits: list[tuple[Any, ...]] = field(default_factory=list)
    # (workspace_id, event hex, visitor_key, visit_key, type, ts, received_at, props JSON,
    #  clamped, source)
    events: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(slots=True)
class Written:
    numbers: dict[VisitKey, int]
    inserted: set[EventKey]


class GroupWriter(Protocol):
    parallel: int

    async def check(self) -> None:
        """Fail at start, not on the first event, if the tables or the driver are not right."""

    async def write(self, rows: GroupRows) -> Written: ...

    async def close(self) -> None: ...


def make_writer(database_url: str) -> GroupWriter:
    """The writer for the same database SQLAlchemy opens, parsed as SQLAlchemy parses the URL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("tracking needs a file database, not an in-memory SQLite")
        return SqliteWriter(url.database)
    # SQLAlchemy-only query options (e.g. prepared_statement_cache_size) are not libpq's.
    dsn = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    return PostgresWriter(dsn)


_VISITS_COLS = (
    "workspace_id, visitor_key, key, started_at, last_event_at, landing_url, referrer, "
    "utm_source, utm_medium, utm_campaign, newsletter_id, customer_id"
)
_EVENTS_COLS = (
    "workspace_id, event_id, visitor_key, visit_key, type, ts, received_at, props, clamped, source"
)


# ---------------------------------------------------------------- PostgreSQL (asyncpg)

# The group is written by kohtaamo_ingest() (migration 0002): one round trip and one statement,
# so it commits or rolls back whole without BEGIN/COMMIT round trips.
_PG_INGEST = (
    "SELECT kind, ws, k1, k2, num FROM kohtaamo_ingest("
    + ", ".join(f"${i}" for i in range(1, 28))
    + ")"
)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class PostgresWriter:
    parallel = 2  # a second group is written while the first commits

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                # A hung statement fails after 30 s (503, the client retries) instead of forever.
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self.parallel, command_timeout=30
                )
            return self._pool

    @property
    def dsn(self) -> str:
        return self._dsn

    async def pool(self) -> asyncpg.Pool:
        """The writer's connection pool, for other hot-path statements (the rule engine's)."""
        return await self._get_pool()

    async def check(self) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            await conn.execute("SELECT 1 FROM events LIMIT 0")
            if not await conn.fetchval("SELECT to_regproc('kohtaamo_ingest') IS NOT NULL"):
                raise StorageError("kohtaamo_ingest() is missing: run `kohtaamo migrate`")

    async def write(self, rows: GroupRows) -> Written:
        pool = await self._get_pool()
        args = (*_columns(rows.visitors, 5), *_columns(rows.visits, 12), *_columns(rows.events, 10))
        try:
            async with pool.acquire() as conn:
                records = await conn.fetch(_PG_INGEST, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        numbers: dict[VisitKey, int] = {}
        inserted: set[EventKey] = set()
        for kind, ws, k1, k2, num in records:
            if kind == "e":
                inserted.add((ws, k1))
            else:
                numbers[(ws, k1, k2)] = num
        return Written(numbers, inserted)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


# ---------------------------------------------------------------- SQLite (sqlite3 in one thread)

_SQ_VISITORS = """
INSERT INTO visitors (workspace_id, key, first_seen_at, last_seen_at, visit_count, customer_id)
VALUES (?, ?, ?, ?, 0, ?)
ON CONFLICT (workspace_id, key) DO UPDATE SET
  first_seen_at = min(visitors.first_seen_at, excluded.first_seen_at),
  last_seen_at = max(visitors.last_seen_at, excluded.last_seen_at),
  customer_id = coalesce(excluded.customer_id, visitors.customer_id)
"""
_SQ_VISITS_TAIL = """
ON CONFLICT (workspace_id, visitor_key, key) DO UPDATE SET
  started_at = min(visits.started_at, excluded.started_at),
  last_event_at = max(visits.last_event_at, excluded.last_event_at),
  customer_id = coalesce(excluded.customer_id, visits.customer_id),
  landing_url = coalesce(visits.landing_url, excluded.landing_url),
  referrer = coalesce(visits.referrer, excluded.referrer),
  utm_source = coalesce(visits.utm_source, excluded.utm_source),
  utm_medium = coalesce(visits.utm_medium, excluded.utm_medium),
  utm_campaign = coalesce(visits.utm_campaign, excluded.utm_campaign),
  newsletter_id = coalesce(visits.newsletter_id, excluded.newsletter_id)
RETURNING id, workspace_id, visitor_key, key, number
"""
_SQ_EVENTS_TAIL = (
    " ON CONFLICT (workspace_id, event_id) DO NOTHING RETURNING workspace_id, event_id"
)
_SQ_CHUNK = 1000  # rows per multi-row statement, far below SQLite's 32,766 variables


def sqlite_time(value: datetime) -> str:
    # The text SQLAlchemy's SQLite DateTime writes and parses: naive UTC with microseconds.
    # isoformat is C code (strftime was a tenth of the batch time); it drops ".000000" itself.
    if value.utcoffset():
        value = value.astimezone(UTC)
    text = value.replace(tzinfo=None).isoformat(" ")
    return text if value.microsecond else text + ".000000"


CHECKPOINT_EVERY = 1.0  # seconds between the background thread's WAL checkpoints


class SqliteWriter:
    """One connection on one thread: each group is a single hop off the event loop.

    The writer never checkpoints the WAL itself (`wal_autocheckpoint=0`): a checkpoint copies
    and fsyncs pages, which stalled the commit that triggered it by 100-400 ms on a busy disk
    (chat messages waited behind it, docs/benchmarks.md). A background thread with its own
    connection runs PASSIVE checkpoints every second instead; they never block the writer."""

    parallel = 1  # SQLite has one writer at a time anyway

    def __init__(self, path: str) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kohtaamo-sqlite-writer")
        self._local = threading.local()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

    def _start_checkpointer(self) -> None:
        if self._checkpointer is not None:
            return

        def run() -> None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA busy_timeout=1000")
            try:
                while not self._stop.wait(CHECKPOINT_EVERY):
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()

        self._checkpointer = threading.Thread(
            target=run, name="kohtaamo-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                "busy_timeout=30000",
                "wal_autocheckpoint=0",
            ):
                conn.execute(f"PRAGMA {pragma}")
            self._local.conn = conn
            self._start_checkpointer()
        return conn

    async def check(self) -> None:
        def _check() -> None:
            if sqlite3.sqlite_version_info < (3, 35):
                raise StorageError(f"SQLite {sqlite3.sqlite_version} is too old: 3.35+ (RETURNING)")
            self._conn().execute("SELECT 1 FROM events LIMIT 0")

        await asyncio.get_running_loop().run_in_executor(self._pool, _check)

    async def write(self, rows: GroupRows) -> Written:
        return await self.execute(lambda _conn: self._write(rows))

    async def execute(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job(connection)` on the writer's thread: other hot-path writes (the rule
        engine's exposures) share the one SQLite writer instead of queueing for its lock."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: job(self._conn()))
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite: {type(exc).__name__}: {exc}") from exc

    def _write(self, rows: GroupRows) -> Written:
        conn = self._conn()
        t = sqlite_time
        conn.execute("BEGIN IMMEDIATE")  # take the write lock first: no stale reads to upgrade
        try:
            conn.executemany(
                _SQ_VISITORS, [(w, k, t(f), t(lst), c) for w, k, f, lst, c in rows.visitors]
            )
            numbers: dict[VisitKey, int] = {}
            fresh: list[tuple[int, VisitKey, str]] = []
            visits = [(r[0], r[1], r[2], t(r[3]), t(r[4]), *r[5:]) for r in rows.visits]
            for chunk in _chunks(visits):
                sql = f"INSERT INTO visits ({_VISITS_COLS}) VALUES {_marks(len(chunk), 12)}"
                flat = [v for row in chunk for v in row]
                started = {(r[0], r[1], r[2]): r[3] for r in chunk}
                for vid, w, vk, k, number in conn.execute(sql + _SQ_VISITS_TAIL, flat).fetchall():
                    if number is None:
                        fresh.append((vid, (w, vk, k), started[(w, vk, k)]))
                    else:
                        numbers[(w, vk, k)] = number
            for vid, key, _ in sorted(fresh, key=lambda f: f[2]):
                (n,) = conn.execute(
                    "UPDATE visitors SET visit_count = visit_count + 1"
                    " WHERE workspace_id = ? AND key = ? RETURNING visit_count",
                    (key[0], key[1]),
                ).fetchone()
                conn.execute("UPDATE visits SET number = ? WHERE id = ?", (n, vid))
                numbers[key] = n
            inserted: set[EventKey] = set()
            received: dict[datetime, str] = {}  # one received_at per request: format it once
            events = [
                (*r[:5], t(r[5]), received.get(r[6]) or received.setdefault(r[6], t(r[6])), *r[7:])
                for r in rows.events
            ]
            for chunk in _chunks(events):
                sql = f"INSERT INTO events ({_EVENTS_COLS}) VALUES {_marks(len(chunk), 10)}"
                flat = [v for row in chunk for v in row]
                inserted.update(conn.execute(sql + _SQ_EVENTS_TAIL, flat).fetchall())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Written(numbers, inserted)

    async def close(self) -> None:
        def _close() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
                self._local.conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=True)
        self._stop.set()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.join, 5)


def _chunks(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    return [rows[i : i + _SQ_CHUNK] for i in range(0, len(rows), _SQ_CHUNK)]


_MARKS: dict[tuple[int, int], str] = {}


def _marks(n: int, width: int) -> str:
    key = (n, width)
    marks = _MARKS.get(key)
    if marks is None:
        marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * n)
        if n <= 64:  # the common small groups; big ones are rare and cheap to build
            _MARKS[key] = marks
    return marks

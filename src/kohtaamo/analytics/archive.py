"""The analytics archive: an append-only DuckDB copy of events, exposures, conversations, their
messages, agents' teams and orders, filled from the primary database by high-water marks (ADR 0009).

Reports scan it (funnels, attribution, uplift); the live path never touches it. The fill state
(each source's high-water mark and when it last moved) is a table *in the archive*, written in
the same DuckDB transaction as the rows it covers, so a crash mid-fill can neither skip nor
double rows. Rows travel as CSV files DuckDB reads natively: its row-by-row inserts are far
slower than the primary database can produce rows.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from kohtaamo.analytics import snapshots
from kohtaamo.kit.clock import from_epoch_ms

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq BIGINT PRIMARY KEY, workspace_id INTEGER, visitor_key VARCHAR, visit_key VARCHAR,
  type VARCHAR, ts TIMESTAMPTZ, received_at TIMESTAMPTZ, props JSON);
CREATE TABLE IF NOT EXISTS exposures (
  id BIGINT PRIMARY KEY, workspace_id INTEGER, rule_id INTEGER, visitor_key VARCHAR,
  visit_key VARCHAR, customer_id VARCHAR, exposed_at TIMESTAMPTZ, outcome VARCHAR, variant VARCHAR,
  reason VARCHAR);
CREATE TABLE IF NOT EXISTS conversations (
  id BIGINT PRIMARY KEY, workspace_id INTEGER, visitor_key VARCHAR, visit_key VARCHAR,
  customer_id VARCHAR, status VARCHAR, origin VARCHAR, assignee_id INTEGER, rule_id INTEGER,
  exposure_id BIGINT, variant VARCHAR, lead BOOLEAN, messages_count INTEGER,
  created_at TIMESTAMPTZ, first_response_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ,
  rating VARCHAR, touched_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS orders (
  id BIGINT PRIMARY KEY, workspace_id INTEGER, order_key VARCHAR, customer_id VARCHAR,
  visitor_key VARCHAR, email_hash VARCHAR, total BIGINT, refunded BIGINT, currency VARCHAR,
  status VARCHAR, source VARCHAR, placed_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS order_lines (
  id BIGINT PRIMARY KEY, order_id BIGINT, product_id VARCHAR, category VARCHAR,
  quantity INTEGER, unit_price BIGINT);
CREATE TABLE IF NOT EXISTS forwards (
  id BIGINT PRIMARY KEY, workspace_id INTEGER, conversation_id BIGINT, from_user_id INTEGER,
  to_user_id INTEGER, to_team_id INTEGER, forwarded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS messages (
  id BIGINT PRIMARY KEY, workspace_id INTEGER, conversation_id BIGINT, author VARCHAR,
  author_id INTEGER, note BOOLEAN, body VARCHAR, created_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS agents (
  workspace_id INTEGER, user_id INTEGER, team_id INTEGER, updated_at TIMESTAMPTZ,
  PRIMARY KEY (workspace_id, user_id));
CREATE TABLE IF NOT EXISTS rules (
  id INTEGER PRIMARY KEY, workspace_id INTEGER, name VARCHAR, action VARCHAR, goal VARCHAR,
  updated_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS fill_state (
  source VARCHAR PRIMARY KEY, high_water VARCHAR, rows BIGINT, filled_at TIMESTAMPTZ);
"""
COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("seq", "workspace_id", "visitor_key", "visit_key", "type", "ts", "received_at", "props"),
    "exposures": (
        "id", "workspace_id", "rule_id", "visitor_key", "visit_key", "customer_id", "exposed_at",
        "outcome", "variant", "reason",
    ),
    "conversations": (
        "id", "workspace_id", "visitor_key", "visit_key", "customer_id", "status", "origin",
        "assignee_id", "rule_id", "exposure_id", "variant", "lead", "messages_count",
        "created_at", "first_response_at", "resolved_at", "rating", "touched_at",
    ),
    "orders": (
        "id", "workspace_id", "order_key", "customer_id", "visitor_key", "email_hash", "total",
        "refunded", "currency", "status", "source", "placed_at", "updated_at",
    ),
    "order_lines": ("id", "order_id", "product_id", "category", "quantity", "unit_price"),
    "forwards": ("id", "workspace_id", "conversation_id", "from_user_id", "to_user_id", "to_team_id", "forwarded_at"),
    "messages": ("id", "workspace_id", "conversation_id", "author", "author_id", "note", "body", "created_at"),
    "agents": ("workspace_id", "user_id", "team_id", "updated_at"),
    "rules": ("id", "workspace_id", "name", "action", "goal", "updated_at"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fill:
    source: str
    high_water: str | None
    rows: int
    filled_at: datetime | None


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _open(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path, read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    # Reports aggregate; they never rely on rows coming back in insertion order.
    con.execute("SET preserve_insertion_order = false")
    return con


class Archive:
    """One DuckDB file (or `:memory:`) opened read-write, used from one thread at a time (the
    lock). Only one process may hold a file so (ADR 0015: the fill lock); reports in the servers
    read published snapshots through `Snapshots`."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = _open(path, read_only=False)
        self._con.execute(SCHEMA)
        self.lock = threading.Lock()
        # Bumped by every append: results computed from the archive may be reused until it moves.
        self.generation = 0
        self.memo: dict[tuple[object, ...], object] = {}

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The connection to query (called under the lock)."""
        if self._con is None:
            raise RuntimeError("the archive is closed")
        return self._con

    def ready(self) -> bool:
        """Whether reports can be read from it now."""
        return self._con is not None

    def close(self) -> None:
        with self.lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def checkpoint(self) -> None:
        """Write everything to the file itself (none of it left in the WAL), e.g. to copy it."""
        with self.lock:
            self._connection().execute("CHECKPOINT")

    def states(self) -> dict[str, Fill]:
        with self.lock:
            # Epoch milliseconds: DuckDB hands TIMESTAMPTZ to Python only through pytz.
            rows = (
                self._connection()
                .execute("SELECT source, high_water, rows, epoch_ms(filled_at) FROM fill_state")
                .fetchall()
            )
        return {
            r[0]: Fill(
                r[0], r[1], int(r[2] or 0), from_epoch_ms(r[3]) if r[3] is not None else None
            )
            for r in rows
        }

    def append(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        *,
        source: str,
        high_water: str,
        replace: bool = False,
    ) -> None:
        """Add `rows` to `table` and move `source`'s high-water mark, in one transaction.
        `replace` upserts by primary key (rows that change after they are first copied)."""
        cols = COLUMNS[table]
        with (
            self.lock,
            tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8") as tmp,
        ):
            writer = csv.writer(tmp)
            writer.writerow(cols)
            writer.writerows([_cell(v) for v in row] for row in rows)
            tmp.flush()
            types = self._types(table)
            verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
            con = self._connection()
            con.execute("BEGIN")
            try:
                if rows:
                    con.execute(
                        f"{verb} INTO {table} SELECT * FROM read_csv(?, header = true, "  # noqa: S608 - fixed names
                        f"columns = {types}, nullstr = '', quote = '\"', escape = '\"')",
                        [tmp.name],
                    )
                con.execute(
                    "INSERT OR REPLACE INTO fill_state VALUES (?, ?, "
                    "coalesce((SELECT rows FROM fill_state WHERE source = ?), 0) + ?, now())",
                    [source, high_water, source, len(rows)],
                )
                con.execute("COMMIT")
                self.generation += 1
                self.memo.clear()
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _types(self, table: str) -> dict[str, str]:
        info = self._connection().execute(f"PRAGMA table_info('{table}')").fetchall()
        return {row[1]: str(row[2]) for row in info}

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self._connection().execute(sql, list(params)).fetchall())


class Snapshots(Archive):
    """The reports' side in every server process: the newest published snapshot of the archive,
    opened read-only, reopened when a newer one is published (ADR 0015). `generation` is the
    snapshot's number, so results reused per generation never outlive their data."""

    def __init__(self, path: str) -> None:  # opens nothing yet: the first pass may be to come
        self.path = path
        self._con = None
        self.lock = threading.Lock()
        self.generation = 0
        self.memo = {}

    def _connection(self) -> duckdb.DuckDBPyConnection:
        newest = snapshots.current(self.path) if self.path != ":memory:" else 0
        if newest and newest != self.generation:
            self._switch(newest)
        if self._con is None:
            raise RuntimeError("no snapshot of the archive is published yet")
        return self._con

    def _switch(self, newest: int) -> None:
        for _ in range(5):
            try:
                con = _open(str(snapshots.generation_path(self.path, newest)), read_only=True)
            except duckdb.Error as exc:
                # Pruned between reading the pointer and opening it: a newer one is published.
                log.info("archive snapshot moved on", extra={"error": str(exc)})
                newest = snapshots.current(self.path)
                continue
            if self._con is not None:
                self._con.close()
            self._con, self.generation = con, newest
            self.memo.clear()
            return

    def ready(self) -> bool:
        with self.lock:
            try:
                self._connection()
            except RuntimeError:
                return False
            return True

    def append(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        *,
        source: str,
        high_water: str,
        replace: bool = False,
    ) -> None:
        raise RuntimeError("a snapshot of the archive is read-only; the fill writes the live file")

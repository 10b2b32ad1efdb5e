"""The rule engine's hot-path storage on the raw drivers the tracking writer already holds.

Exposures, a visitor's exposure history and customer facts are read or written on most
decisions that act; through SQLAlchemy each cost ~1 ms (aiosqlite's thread hops, the ORM's
statement work), which made the decision p99 3.4 ms (ADR 0007). SQLite: on the tracking writer's
one thread (one writer, no lock waits). PostgreSQL: on the tracking writer's asyncpg pool.
Values are stored exactly as the SQLAlchemy models read them; the rule tests read them back
through the ORM on both databases.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Protocol

from kohtaamo.contacts.service import CustomerFacts
from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import as_utc
from kohtaamo.tracking.writer import GroupWriter, PostgresWriter, SqliteWriter, sqlite_time

Row = dict[str, Any]
COLUMNS = (
    "workspace_id, rule_id, visitor_key, visit_key, customer_id, at, outcome, variant, reason,"
    " context"
)
_EXPOSED = (
    "SELECT rule_id, at, visit_key FROM exposures WHERE workspace_id = {0} AND visitor_key = {1}"
    " AND outcome IN ('fired', 'held_out')"
)
# A person's exposures (rules/people.py): made while identified as the customer, or on any
# device linked to them (visitors.customer_id). A UNION, so each branch walks its own index
# (an OR with a subquery would scan the workspace's exposures).
_PERSON = (
    "SELECT rule_id, at, visitor_key, visit_key, outcome, variant, id FROM exposures"
    " WHERE workspace_id = {0} AND customer_id = {1} AND outcome IN ('fired', 'held_out')"
    " UNION SELECT rule_id, at, visitor_key, visit_key, outcome, variant, id FROM exposures"
    " WHERE workspace_id = {0} AND outcome IN ('fired', 'held_out') AND visitor_key IN"
    " (SELECT key FROM visitors WHERE workspace_id = {0} AND customer_id = {1})"
)
PersonRow = tuple[int, datetime, str, str, str, str | None, int]
_FACTS = (
    "SELECT customer_id, orders, lifetime_value, currency, last_order_at FROM customers"
    " WHERE workspace_id = {0} AND customer_id = {1}"
)


class RawStore(Protocol):
    async def insert_exposures(self, rows: list[Row]) -> list[int]: ...
    async def exposed(self, workspace_id: int, visitor: str) -> list[tuple[int, datetime, str]]: ...
    async def facts(self, workspace_id: int, customer_id: str) -> CustomerFacts | None: ...
    async def person_exposed(self, workspace_id: int, customer: str) -> list[PersonRow]: ...


def raw_store(writer: GroupWriter) -> RawStore | None:
    if isinstance(writer, SqliteWriter):
        return SqliteStore(writer)
    if isinstance(writer, PostgresWriter):
        return PostgresStore(writer)
    return None


def _values(r: Row) -> tuple[Any, ...]:
    return (
        r["workspace_id"],
        r["rule_id"],
        r["visitor_key"],
        r["visit_key"],
        r["customer_id"],
        r["at"],
        r["outcome"],
        r["variant"],
        r["reason"],
        None if r["context"] is None else jsonx.dumps_str(r["context"]),
    )


class SqliteStore:
    _INSERT = f"INSERT INTO exposures ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - fixed text

    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    async def insert_exposures(self, rows: list[Row]) -> list[int]:
        values = [(*v[:5], sqlite_time(v[5]), *v[6:]) for v in map(_values, rows)]

        def insert(conn: sqlite3.Connection) -> list[int]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                ids = []
                for v in values:
                    cur = conn.execute(self._INSERT, v)
                    assert cur.lastrowid is not None
                    ids.append(cur.lastrowid)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return ids

        return await self._writer.execute(insert)

    async def exposed(self, workspace_id: int, visitor: str) -> list[tuple[int, datetime, str]]:
        sql = _EXPOSED.format("?", "?")
        rows = await self._writer.execute(
            lambda conn: conn.execute(sql, (workspace_id, visitor)).fetchall()
        )
        return [(r, as_utc(datetime.fromisoformat(at)), v) for r, at, v in rows]

    async def person_exposed(self, workspace_id: int, customer: str) -> list[PersonRow]:
        sql = _PERSON.format("?1", "?2")
        args = (workspace_id, customer)
        rows = await self._writer.execute(lambda conn: conn.execute(sql, args).fetchall())
        return [
            (r[0], as_utc(datetime.fromisoformat(r[1])), r[2], r[3], r[4], r[5], r[6]) for r in rows
        ]

    async def facts(self, workspace_id: int, customer_id: str) -> CustomerFacts | None:
        sql = _FACTS.format("?", "?")
        row = await self._writer.execute(
            lambda conn: conn.execute(sql, (workspace_id, customer_id)).fetchone()
        )
        if row is None:
            return None
        last = as_utc(datetime.fromisoformat(row[4])) if row[4] else None
        return CustomerFacts(row[0], row[1], row[2], row[3], last)


class PostgresStore:
    _INSERT = (
        f"INSERT INTO exposures ({COLUMNS})"  # noqa: S608 - fixed text
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) RETURNING id"
    )

    def __init__(self, writer: PostgresWriter) -> None:
        self._writer = writer

    async def insert_exposures(self, rows: list[Row]) -> list[int]:
        pool = await self._writer.pool()
        async with pool.acquire() as conn, conn.transaction():
            return [int(await conn.fetchval(self._INSERT, *_values(r))) for r in rows]

    async def exposed(self, workspace_id: int, visitor: str) -> list[tuple[int, datetime, str]]:
        pool = await self._writer.pool()
        rows = await pool.fetch(_EXPOSED.format("$1", "$2"), workspace_id, visitor)
        return [(r[0], as_utc(r[1]), r[2]) for r in rows]

    async def person_exposed(self, workspace_id: int, customer: str) -> list[PersonRow]:
        pool = await self._writer.pool()
        rows = await pool.fetch(_PERSON.format("$1", "$2"), workspace_id, customer)
        return [(r[0], as_utc(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def facts(self, workspace_id: int, customer_id: str) -> CustomerFacts | None:
        pool = await self._writer.pool()
        row = await pool.fetchrow(_FACTS.format("$1", "$2"), workspace_id, customer_id)
        if row is None:
            return None
        last = as_utc(row[4]) if row[4] else None
        return CustomerFacts(row[0], row[1], row[2], row[3], last)

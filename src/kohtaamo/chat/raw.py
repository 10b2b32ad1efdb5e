"""The chat's hot path on the raw drivers: one message into a conversation already going on.

Most chat writes are exactly that. Through SQLAlchemy on SQLite each message cost ~3 ms of
aiosqlite thread hops, and concurrent writers on pooled connections waited in SQLite's busy
handler, so at 200 messages a second the acks queued up by seconds (docs/benchmarks.md). Here a
message is one job on the tracking writer's SQLite thread (one writer: no lock waits), or one
transaction on a small asyncpg pool for PostgreSQL: the same three statements the ORM path runs
(find the conversation and a re-sent client id, take the next seq, insert), committed before the
ack. Anything else (a new conversation, a lead's email, a first answer, an unassigned chat) is
`None` here, and the caller takes the ORM path in chat.service, which has the rules for it.
Values are stored exactly as the SQLAlchemy models read them; the chat tests read them back
through the ORM on both databases.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from kohtaamo.chat.models import Author, Message
from kohtaamo.kit.clock import as_utc, utcnow
from kohtaamo.tracking.writer import GroupWriter, PostgresWriter, SqliteWriter, sqlite_time

COLUMNS = (
    "conversation_id, workspace_id, seq, author, author_id, author_name, body, note, client_id,"
    " search_text, created_at, prev_seq"
)
_VISITOR_CONV = (
    "SELECT c.id, c.status, c.assignee_id, c.visitor_key,"
    " (SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.client_id = {0})"
    " FROM conversations c WHERE c.workspace_id = {1} AND c.visitor_key = {2}"
    " ORDER BY c.id DESC LIMIT 1"
)
_AGENT_CONV = (
    "SELECT c.id, c.status, c.assignee_id, c.visitor_key, c.first_response_at IS NULL,"
    " (SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.client_id = {0}),"
    " c.workspace_id FROM conversations c WHERE c.id = {1}"
)
_TAKE_SEQ = (
    "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = {0},"
    " messages_count = messages_count + {1}, preview = CASE WHEN {1} = 1 THEN {2} ELSE preview END,"
    " agent_read_seq = CASE WHEN {3} THEN last_seq + 1 ELSE agent_read_seq END"
    " WHERE id = {4} RETURNING last_seq"
)
_MESSAGE = f"SELECT id, {COLUMNS} FROM messages WHERE id = {{0}}"  # noqa: S608 - fixed text
# Run after _TAKE_SEQ, which holds the conversation: the visitor-visible line before the new one.
_LAST_VISIBLE = (
    "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = {0} AND note = {1}"
)


@dataclass(frozen=True, slots=True)
class Stored:
    conversation_id: int
    workspace_id: int
    visitor_key: str
    assignee_id: int | None
    message: Message
    duplicate: bool


class ChatStore(Protocol):
    async def visitor_message(
        self, *, workspace_id: int, visitor_key: str, body: str, client_id: str
    ) -> Stored | None: ...

    async def agent_message(
        self,
        *,
        workspaces: frozenset[int],
        conversation_id: int,
        user_id: int,
        name: str,
        body: str,
        client_id: str,
        note: bool,
    ) -> Stored | None: ...

    async def close(self) -> None: ...


def chat_store(writer: GroupWriter) -> ChatStore | None:
    if isinstance(writer, SqliteWriter):
        return SqliteChat(writer)
    if isinstance(writer, PostgresWriter):
        return PostgresChat(writer.dsn)
    return None


def _message(row: tuple[Any, ...] | asyncpg.Record) -> Message:
    created = row[11]
    return Message(
        id=row[0],
        conversation_id=row[1],
        workspace_id=row[2],
        seq=row[3],
        author=row[4],
        author_id=row[5],
        author_name=row[6],
        body=row[7],
        note=bool(row[8]),
        client_id=row[9],
        search_text=row[10],
        created_at=as_utc(datetime.fromisoformat(created) if isinstance(created, str) else created),
        prev_seq=row[12],
    )


def _slow(conv: Any, workspaces: frozenset[int], note: bool) -> bool:
    return (
        conv is None
        or conv[6] not in workspaces
        or conv[1] == "resolved"
        or conv[2] is None
        or (bool(conv[4]) and not note)
    )


def _row(
    conv_id: int,
    ws: int,
    author: Author,
    user: int | None,
    name: str,
    body: str,
    note: bool,
    client_id: str,
    now: datetime,
) -> list[Any]:
    # seq (index 2) and prev_seq (11) are filled in once taken.
    return [
        conv_id,
        ws,
        0,
        str(author),
        user,
        name,
        body,
        note,
        client_id,
        body.casefold(),
        now,
        None,
    ]


class SqliteChat:
    _INSERT = f"INSERT INTO messages ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - fixed text

    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def _store(
        self,
        conn: sqlite3.Connection,
        conv: tuple[Any, ...],
        row: list[Any],
        *,
        note: bool,
        read: bool,
    ) -> Message:
        now = row[10]
        seq = conn.execute(
            _TAKE_SEQ.format("?1", "?2", "?3", "?4", "?5"),
            (sqlite_time(now), 0 if note else 1, row[6][:160], read, conv[0]),
        ).fetchone()[0]
        row[2] = seq
        if not note:
            row[11] = conn.execute(_LAST_VISIBLE.format("?", "?"), (conv[0], False)).fetchone()[0]
        values = [*row[:10], sqlite_time(now), row[11]]
        cur = conn.execute(self._INSERT, values)
        assert cur.lastrowid is not None
        return Message(
            id=cur.lastrowid,
            conversation_id=row[0],
            workspace_id=row[1],
            seq=seq,
            author=row[3],
            author_id=row[4],
            author_name=row[5],
            body=row[6],
            note=note,
            client_id=row[8],
            search_text=row[9],
            created_at=now,
            prev_seq=row[11],
        )

    async def visitor_message(
        self, *, workspace_id: int, visitor_key: str, body: str, client_id: str
    ) -> Stored | None:
        now = utcnow()

        def job(conn: sqlite3.Connection) -> Stored | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conv = conn.execute(
                    _VISITOR_CONV.format("?", "?", "?"), (client_id, workspace_id, visitor_key)
                ).fetchone()
                if conv is None or conv[1] == "resolved":
                    conn.execute("ROLLBACK")
                    return None
                if conv[4] is not None:
                    dup = _message(conn.execute(_MESSAGE.format("?"), (conv[4],)).fetchone())
                    conn.execute("ROLLBACK")
                    if dup.author != Author.visitor:
                        return None  # the ORM path answers the conflict
                    return Stored(conv[0], workspace_id, conv[3], conv[2], dup, True)
                row = _row(
                    conv[0], workspace_id, Author.visitor, None, "", body, False, client_id, now
                )
                msg = self._store(conn, conv, row, note=False, read=False)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return Stored(conv[0], workspace_id, conv[3], conv[2], msg, False)

        return await self._writer.execute(job)

    async def agent_message(
        self,
        *,
        workspaces: frozenset[int],
        conversation_id: int,
        user_id: int,
        name: str,
        body: str,
        client_id: str,
        note: bool,
    ) -> Stored | None:
        now = utcnow()

        def job(conn: sqlite3.Connection) -> Stored | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conv = conn.execute(
                    _AGENT_CONV.format("?", "?"), (client_id, conversation_id)
                ).fetchone()
                # Not theirs, a first answer, an unassigned or closed chat: the ORM path decides.
                if _slow(conv, workspaces, note):
                    conn.execute("ROLLBACK")
                    return None
                if conv[5] is not None:
                    dup = _message(conn.execute(_MESSAGE.format("?"), (conv[5],)).fetchone())
                    conn.execute("ROLLBACK")
                    if dup.author_id != user_id:
                        return None
                    return Stored(conv[0], conv[6], conv[3], conv[2], dup, True)
                row = _row(
                    conv[0], conv[6], Author.agent, user_id, name, body, note, client_id, now
                )
                msg = self._store(conn, conv, row, note=note, read=not note)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return Stored(conv[0], conv[6], conv[3], conv[2], msg, False)

        return await self._writer.execute(job)

    async def close(self) -> None:
        return None


class PostgresChat:
    """Its own small pool: the tracking writer's two connections are busy with event groups."""

    _INSERT = (
        f"INSERT INTO messages ({COLUMNS})"  # noqa: S608 - fixed text
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id"
    )

    def __init__(self, dsn: str, size: int = 4) -> None:
        self._dsn = dsn
        self._size = size
        self._pool: asyncpg.Pool | None = None

    async def _get(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._size, command_timeout=30
            )
        return self._pool

    async def _store(
        self,
        conn: asyncpg.Connection,
        conv: asyncpg.Record,
        row: list[Any],
        *,
        note: bool,
        read: bool,
    ) -> Message:
        seq = await conn.fetchval(
            _TAKE_SEQ.format("$1", "$2", "$3", "$4", "$5"),
            row[10],
            0 if note else 1,
            row[6][:160],
            read,
            conv[0],
        )
        row[2] = seq
        if not note:
            row[11] = await conn.fetchval(_LAST_VISIBLE.format("$1", "$2"), conv[0], False)
        msg_id = await conn.fetchval(self._INSERT, *row)
        return Message(
            id=msg_id,
            conversation_id=row[0],
            workspace_id=row[1],
            seq=seq,
            author=row[3],
            author_id=row[4],
            author_name=row[5],
            body=row[6],
            note=note,
            client_id=row[8],
            search_text=row[9],
            created_at=row[10],
            prev_seq=row[11],
        )

    async def visitor_message(
        self, *, workspace_id: int, visitor_key: str, body: str, client_id: str
    ) -> Stored | None:
        now = utcnow()
        pool = await self._get()
        async with pool.acquire() as conn, conn.transaction():
            conv = await conn.fetchrow(
                _VISITOR_CONV.format("$1", "$2", "$3") + " FOR UPDATE OF c",
                client_id,
                workspace_id,
                visitor_key,
            )
            if conv is None or conv[1] == "resolved":
                return None
            if conv[4] is not None:
                dup = _message(await conn.fetchrow(_MESSAGE.format("$1"), conv[4]))
                if dup.author != Author.visitor:
                    return None
                return Stored(conv[0], workspace_id, conv[3], conv[2], dup, True)
            row = _row(conv[0], workspace_id, Author.visitor, None, "", body, False, client_id, now)
            msg = await self._store(conn, conv, row, note=False, read=False)
        return Stored(conv[0], workspace_id, conv[3], conv[2], msg, False)

    async def agent_message(
        self,
        *,
        workspaces: frozenset[int],
        conversation_id: int,
        user_id: int,
        name: str,
        body: str,
        client_id: str,
        note: bool,
    ) -> Stored | None:
        now = utcnow()
        pool = await self._get()
        async with pool.acquire() as conn, conn.transaction():
            conv = await conn.fetchrow(
                _AGENT_CONV.format("$1", "$2") + " FOR UPDATE OF c", client_id, conversation_id
            )
            if _slow(conv, workspaces, note):
                return None
            if conv[5] is not None:
                dup = _message(await conn.fetchrow(_MESSAGE.format("$1"), conv[5]))
                if dup.author_id != user_id:
                    return None
                return Stored(conv[0], conv[6], conv[3], conv[2], dup, True)
            row = _row(conv[0], conv[6], Author.agent, user_id, name, body, note, client_id, now)
            msg = await self._store(conn, conv, row, note=note, read=not note)
        return Stored(conv[0], conv[6], conv[3], conv[2], msg, False)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

"""Conversations nobody closed: after the workspace's `chat_auto_resolve_hours` without a message
from anyone, Kohtaamo closes them through `lifecycle.resolve` (the stored line, the frames, the
freed slot and the queue as for an agent's close). Without this a conversation left open (or a
lead whose visitor left) would keep every rule quiet for that visitor for good (ADR 0012).

The rules' "is a conversation going on?" counts an idle one as over even before a sweep has run,
and the visitor socket closes it on connect, so rules, widget and inbox never disagree about it.
Each close is one transaction that first takes the workspace lock (chat.routing) and is claimed by
a conditional UPDATE in `resolve`: sweeps of several workers close each conversation once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.chat import lifecycle, routing
from kohtaamo.chat.models import Conversation, Status
from kohtaamo.chat.switchboard import Switchboard
from kohtaamo.kit.clock import as_utc, utcnow
from kohtaamo.shops.models import Workspace

log = logging.getLogger(__name__)
GOING = (Status.open, Status.pending)


def idle(last_message_at: datetime, hours: int, now: datetime) -> bool:
    return as_utc(last_message_at) < now - timedelta(hours=hours)


async def _latest(
    session: AsyncSession, workspace_id: int, visitor_key: str
) -> tuple[int, Status, datetime, int] | None:
    """The visitor's latest conversation: (id, status, last message at, the idle limit)."""
    row = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.status,
                Conversation.last_message_at,
                Workspace.chat_auto_resolve_hours,
            )
            .join(Workspace, Workspace.id == Conversation.workspace_id)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.visitor_key == visitor_key,
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), row[1], row[2], int(row[3]))


def going_on(maker: async_sessionmaker[AsyncSession]) -> Callable[[int, str], Awaitable[bool]]:
    """For the rules engine: does this visitor have a conversation that is not closed, and not
    idle past the workspace's limit (closed by the next sweep, so already over)?"""

    async def check(workspace_id: int, visitor_key: str) -> bool:
        async with maker() as session:
            row = await _latest(session, workspace_id, visitor_key)
        if row is None or row[1] == Status.resolved:
            return False
        return not idle(row[2], int(row[3]), utcnow())

    return check


async def close(board: Switchboard, conversation_id: int, hours: int) -> bool:
    """Close one conversation if it is still going and still idle; True when this call closed it."""
    async with board.unit() as session:
        conv = await session.get(Conversation, conversation_id)
        if conv is None:
            return False
        # A write first: SQLite's write lock (no stale snapshot to upgrade), PostgreSQL's row lock
        # on the workspace, the order every routing write takes.
        await routing.lock(session, conv.workspace_id)
        await session.refresh(conv)
        if conv.status == Status.resolved or not idle(conv.last_message_at, hours, utcnow()):
            return False
        before = conv.last_seq
        await lifecycle.resolve(session, conv, presence=board.presence, idle_hours=hours)
        return conv.last_seq > before  # its closing line is stored


async def settle(board: Switchboard, workspace_id: int, visitor_key: str) -> None:
    """Before a visitor socket says `ready`: close their latest conversation if it is idle past
    the limit, so the widget hears the same status the rules go by."""
    async with board.maker() as session:
        row = await _latest(session, workspace_id, visitor_key)
    if row is not None and row[1] != Status.resolved and idle(row[2], int(row[3]), utcnow()):
        await close(board, int(row[0]), int(row[3]))


async def sweep(board: Switchboard) -> list[int]:
    """Close every conversation idle past its workspace's limit; returns the ids this call closed."""
    now = utcnow()
    async with board.maker() as session:
        limits = (
            await session.execute(select(Workspace.id, Workspace.chat_auto_resolve_hours))
        ).all()
        due: list[tuple[int, int]] = []
        for ws_id, hours in limits:
            ids = await session.execute(
                select(Conversation.id)
                .where(
                    Conversation.workspace_id == ws_id,
                    Conversation.status.in_(GOING),
                    Conversation.last_message_at < now - timedelta(hours=int(hours)),
                )
                .order_by(Conversation.id)
            )
            due.extend((int(c), int(hours)) for c in ids.scalars())
    closed = []
    for conv_id, hours in due:
        try:
            if await close(board, conv_id, hours):
                closed.append(conv_id)
        except Exception:  # one conversation's failure must not stop the others' closing
            log.exception("closing an idle conversation failed", extra={"conversation": conv_id})
    return closed


class Sweeper:
    """The periodic sweep in the server process (every worker runs one; closes are claimed)."""

    def __init__(self, board: Switchboard, every: float) -> None:
        self._board = board
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._every > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="chat-idle")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await sweep(self._board)
            except Exception:
                log.exception("the idle-conversation sweep failed")

"""Filling the archive from the primary database, incrementally (ADR 0009).

Append-only sources (events by `seq`, exposures by `id`) move a numeric high-water mark. Their ids
are taken when a row is inserted but become visible when its transaction commits, and concurrent
writers commit out of order; so only rows older than `SETTLE` seconds are copied, which every
commit has long reached. Rows that change after they are written (conversations: status, rating;
orders: refunds, cancellations) are re-copied when touched since the last fill (less `SETTLE`)
and replaced by primary key. Each batch and its mark commit together in DuckDB.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.analytics.archive import Archive
from kohtaamo.chat.models import ChatAgent, Conversation, Forward, Message
from kohtaamo.commerce.models import Order, OrderLine
from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import utcnow
from kohtaamo.rules.models import Exposure, Rule
from kohtaamo.tracking.models import TrackedEvent

log = logging.getLogger(__name__)
SETTLE = 10.0  # seconds: older than any commit still in flight
BATCH = 50_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mark(archive: Archive, source: str) -> str | None:
    state = archive.states().get(source)
    return state.high_water if state else None


async def _append_only(
    maker: async_sessionmaker[AsyncSession],
    archive: Archive,
    *,
    source: str,
    columns: Sequence[Any],
    settle: float,
    convert: Callable[[Any], tuple[Any, ...]] = tuple,
) -> int:
    """Copy rows past the source's mark, oldest first, in batches: `columns[0]` is the id that
    orders them, `columns[-1]` a time the settle cut-off applies to (dropped from the copy
    when `convert` says so)."""
    id_col, time_col = columns[0], columns[-1]
    mark = int(_mark(archive, source) or 0)
    cutoff = utcnow() - timedelta(seconds=settle)
    total = 0
    while True:
        async with maker() as session:
            rows = (
                await session.execute(
                    select(*columns)
                    .where(id_col > mark, time_col <= cutoff)
                    .order_by(id_col)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return total
        mark = int(rows[-1][0])
        data = [convert(r) for r in rows]
        await asyncio.to_thread(archive.append, source, data, source=source, high_water=str(mark))
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def fill_events(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    e = TrackedEvent
    columns = (
        e.seq,
        e.workspace_id,
        e.visitor_key,
        e.visit_key,
        e.type,
        e.ts,
        e.props,
        e.received_at,
    )

    def convert(r: Any) -> tuple[Any, ...]:
        # The archive's column order: received_at before props (JSON text).
        return (*r[:6], r[7], jsonx.dumps_str(r[6] or {}))

    return await _append_only(
        maker, archive, source="events", columns=columns, settle=settle, convert=convert
    )


async def fill_exposures(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    x = Exposure
    columns = (
        x.id, x.workspace_id, x.rule_id, x.visitor_key, x.visit_key, x.customer_id, x.at,
        x.outcome, x.variant, x.reason, x.at,
    )  # fmt: skip
    return await _append_only(
        maker,
        archive,
        source="exposures",
        columns=columns,
        settle=settle,
        convert=lambda r: tuple(r[:10]),
    )


async def fill_forwards(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    f = Forward
    columns = (
        f.id,
        f.workspace_id,
        f.conversation_id,
        f.from_user_id,
        f.to_user_id,
        f.to_team_id,
        f.at,
    )
    return await _append_only(maker, archive, source="forwards", columns=columns, settle=settle)


async def fill_messages(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    m = Message
    columns = (
        m.id, m.workspace_id, m.conversation_id, m.author, m.author_id, m.note, m.body,
        m.created_at,
    )  # fmt: skip
    return await _append_only(maker, archive, source="messages", columns=columns, settle=settle)


async def fill_settings(maker: async_sessionmaker[AsyncSession], archive: Archive) -> int:
    """Agents' teams and rules' names and actions, copied whole when they changed (tens of rows
    per workspace): reports use today's teams and names. Returns the rows copied (0: unchanged,
    so a pass that brought nothing else publishes no new snapshot)."""
    a, r = ChatAgent, Rule
    async with maker() as session:
        agents = (
            await session.execute(select(a.workspace_id, a.user_id, a.team_id, a.updated_at))
        ).all()
        rules = (
            await session.execute(
                select(r.id, r.workspace_id, r.name, r.action, r.goal, r.updated_at)
            )
        ).all()
    # The mark is a digest of everything copied: equal digests, nothing to copy.
    digest = hashlib.sha256(repr((sorted(map(tuple, agents)), sorted(map(tuple, rules)))).encode())
    mark = digest.hexdigest()
    if _mark(archive, "agents") == mark and _mark(archive, "rules") == mark:
        return 0
    await asyncio.to_thread(
        archive.append,
        "agents",
        [tuple(x) for x in agents],
        source="agents",
        high_water=mark,
        replace=True,
    )
    await asyncio.to_thread(
        archive.append,
        "rules",
        [(x[0], x[1], x[2], (x[3] or {}).get("type"), x[4], x[5]) for x in rules],
        source="rules",
        high_water=mark,
        replace=True,
    )
    return len(agents) + len(rules)


def _since(archive: Archive, source: str, settle: float) -> tuple[datetime, datetime]:
    """(copy rows touched at or after this, the mark to store for the next fill)."""
    mark = _mark(archive, source)
    since = datetime.fromisoformat(mark) if mark else EPOCH
    now = utcnow()
    return since - timedelta(seconds=settle), now


async def fill_conversations(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    since, now = _since(archive, "conversations", settle)
    touched = func.coalesce(
        Conversation.rated_at, Conversation.resolved_at, Conversation.last_message_at
    )
    async with maker() as session:
        rows = (
            await session.execute(
                select(
                    Conversation.id,
                    Conversation.workspace_id,
                    Conversation.visitor_key,
                    Conversation.visit_key,
                    Conversation.customer_id,
                    Conversation.status,
                    Conversation.origin,
                    Conversation.assignee_id,
                    Conversation.rule_id,
                    Conversation.exposure_id,
                    Conversation.variant,
                    Conversation.lead_email.is_not(None),
                    Conversation.messages_count,
                    Conversation.created_at,
                    Conversation.first_response_at,
                    Conversation.resolved_at,
                    Conversation.rating,
                    touched,
                ).where(
                    or_(
                        Conversation.last_message_at >= since,
                        Conversation.resolved_at >= since,
                        Conversation.rated_at >= since,
                        Conversation.assigned_at >= since,
                    )
                )
            )
        ).all()
    await asyncio.to_thread(
        archive.append,
        "conversations",
        [tuple(r) for r in rows],
        source="conversations",
        high_water=now.isoformat(),
        replace=True,
    )
    return len(rows)


async def fill_orders(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    since, now = _since(archive, "orders", settle)
    async with maker() as session:
        orders = (
            await session.execute(
                select(
                    Order.id,
                    Order.workspace_id,
                    Order.order_key,
                    Order.customer_id,
                    Order.visitor_key,
                    Order.email_hash,
                    Order.total,
                    Order.refunded,
                    Order.currency,
                    Order.status,
                    Order.source,
                    Order.placed_at,
                    Order.updated_at,
                ).where(Order.updated_at >= since)
            )
        ).all()
        ids = [r[0] for r in orders]
        lines: list[Any] = []
        for start in range(0, len(ids), 1000):
            lines += (
                await session.execute(
                    select(
                        OrderLine.id,
                        OrderLine.order_id,
                        OrderLine.product_id,
                        OrderLine.category,
                        OrderLine.quantity,
                        OrderLine.unit_price,
                    ).where(OrderLine.order_id.in_(ids[start : start + 1000]))
                )
            ).all()
    await asyncio.to_thread(
        archive.append,
        "order_lines",
        [tuple(r) for r in lines],
        source="order_lines",
        high_water=now.isoformat(),
        replace=True,
    )
    await asyncio.to_thread(
        archive.append,
        "orders",
        [tuple(r) for r in orders],
        source="orders",
        high_water=now.isoformat(),
        replace=True,
    )
    return len(orders)


async def fill(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> dict[str, int]:
    """One pass over every source; returns the rows copied per source."""
    return {
        "events": await fill_events(maker, archive, settle=settle),
        "exposures": await fill_exposures(maker, archive, settle=settle),
        "conversations": await fill_conversations(maker, archive, settle=settle),
        "orders": await fill_orders(maker, archive, settle=settle),
        "forwards": await fill_forwards(maker, archive, settle=settle),
        "messages": await fill_messages(maker, archive, settle=settle),
        "settings": await fill_settings(maker, archive),
    }

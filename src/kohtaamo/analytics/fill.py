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
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.analytics.archive import Archive
from kohtaamo.chat.models import Conversation, Forward
from kohtaamo.commerce.models import Order, OrderLine
from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import utcnow
from kohtaamo.rules.models import Exposure
from kohtaamo.tracking.models import TrackedEvent

log = logging.getLogger(__name__)
SETTLE = 10.0  # seconds: older than any commit still in flight
BATCH = 50_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mark(archive: Archive, source: str) -> str | None:
    state = archive.states().get(source)
    return state.high_water if state else None


async def fill_events(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    mark = int(_mark(archive, "events") or 0)
    cutoff = utcnow() - timedelta(seconds=settle)
    total = 0
    while True:
        async with maker() as session:
            rows = (
                await session.execute(
                    select(
                        TrackedEvent.seq,
                        TrackedEvent.workspace_id,
                        TrackedEvent.visitor_key,
                        TrackedEvent.visit_key,
                        TrackedEvent.type,
                        TrackedEvent.ts,
                        TrackedEvent.received_at,
                        TrackedEvent.props,
                    )
                    .where(TrackedEvent.seq > mark, TrackedEvent.received_at <= cutoff)
                    .order_by(TrackedEvent.seq)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return total
        data = [(*r[:7], jsonx.dumps_str(r[7] or {})) for r in rows]
        mark = int(rows[-1][0])
        await asyncio.to_thread(
            archive.append, "events", data, source="events", high_water=str(mark)
        )
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def fill_exposures(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    mark = int(_mark(archive, "exposures") or 0)
    cutoff = utcnow() - timedelta(seconds=settle)
    total = 0
    while True:
        async with maker() as session:
            rows = (
                await session.execute(
                    select(
                        Exposure.id,
                        Exposure.workspace_id,
                        Exposure.rule_id,
                        Exposure.visitor_key,
                        Exposure.visit_key,
                        Exposure.customer_id,
                        Exposure.at,
                        Exposure.outcome,
                        Exposure.variant,
                        Exposure.reason,
                    )
                    .where(Exposure.id > mark, Exposure.at <= cutoff)
                    .order_by(Exposure.id)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return total
        mark = int(rows[-1][0])
        await asyncio.to_thread(
            archive.append,
            "exposures",
            [tuple(r) for r in rows],
            source="exposures",
            high_water=str(mark),
        )
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def fill_forwards(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, settle: float = SETTLE
) -> int:
    mark = int(_mark(archive, "forwards") or 0)
    cutoff = utcnow() - timedelta(seconds=settle)
    async with maker() as session:
        rows = (
            await session.execute(
                select(
                    Forward.id,
                    Forward.workspace_id,
                    Forward.conversation_id,
                    Forward.from_user_id,
                    Forward.to_user_id,
                    Forward.to_team_id,
                    Forward.at,
                )
                .where(Forward.id > mark, Forward.at <= cutoff)
                .order_by(Forward.id)
                .limit(BATCH)
            )
        ).all()
    if rows:
        await asyncio.to_thread(
            archive.append,
            "forwards",
            [tuple(r) for r in rows],
            source="forwards",
            high_water=str(rows[-1][0]),
        )
    return len(rows)


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
    }


async def run_forever(
    maker: async_sessionmaker[AsyncSession], archive: Archive, *, every: float = 15.0
) -> None:
    """The archive worker: a pass every `every` seconds; fresh within `every + SETTLE` (< 60 s)."""
    while True:
        try:
            await fill(maker, archive)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("archive fill failed; retrying next round")
        await asyncio.sleep(every)

"""Customer facts: read by the rule engine, kept up to date as orders arrive."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.contacts.models import Customer
from kohtaamo.kit.clock import as_utc, utcnow


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    customer_id: str
    orders: int
    lifetime_value: int
    currency: str
    last_order_at: datetime | None


def _facts(row: Customer) -> CustomerFacts:
    last = as_utc(row.last_order_at) if row.last_order_at else None
    return CustomerFacts(row.customer_id, row.orders, row.lifetime_value, row.currency, last)


async def get_facts(
    session: AsyncSession, *, workspace_id: int, customer_id: str
) -> CustomerFacts | None:
    stmt = select(Customer).where(
        Customer.workspace_id == workspace_id, Customer.customer_id == customer_id
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    return _facts(row) if row else None


async def record_order(
    session: AsyncSession,
    *,
    workspace_id: int,
    customer_id: str,
    total: int,
    currency: str,
    at: datetime,
) -> CustomerFacts:
    """Count one new order for a customer; a refund is a negative total, which lowers the
    lifetime value without counting as an order. The caller (commerce) makes orders idempotent
    by order id; this only adds up.
    """
    row = await _locked(session, workspace_id, customer_id)
    if row is None:
        row = Customer(
            workspace_id=workspace_id,
            customer_id=customer_id,
            orders=0,
            lifetime_value=0,
            currency=currency,
            updated_at=utcnow(),
        )
        session.add(row)
    row.lifetime_value = max(row.lifetime_value + total, 0)
    if total >= 0:
        row.orders += 1
        at = as_utc(at)
        if row.first_order_at is None or at < as_utc(row.first_order_at):
            row.first_order_at = at
        if row.last_order_at is None or at > as_utc(row.last_order_at):
            row.last_order_at = at
    row.updated_at = utcnow()
    await session.flush()
    return _facts(row)


async def _locked(session: AsyncSession, workspace_id: int, customer_id: str) -> Customer | None:
    stmt = (
        select(Customer)
        .where(Customer.workspace_id == workspace_id, Customer.customer_id == customer_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def adjust_value(
    session: AsyncSession, *, workspace_id: int, customer_id: str, delta: int
) -> None:
    """Move a customer's lifetime value without counting an order (a corrected total)."""
    row = await _locked(session, workspace_id, customer_id)
    if row is None:
        return
    row.lifetime_value = max(row.lifetime_value + delta, 0)
    row.updated_at = utcnow()
    await session.flush()


async def cancel_order(
    session: AsyncSession, *, workspace_id: int, customer_id: str, remaining: int
) -> None:
    """Take back an order that will not happen: one order fewer, and what was left of its value."""
    row = await _locked(session, workspace_id, customer_id)
    if row is None:
        return
    row.orders = max(row.orders - 1, 0)
    row.lifetime_value = max(row.lifetime_value - remaining, 0)
    row.updated_at = utcnow()
    await session.flush()


class FactsCache:
    """Per-worker cache of customer facts for the hot path; a few seconds stale at most."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        ttl: float = 30.0,
        load: Callable[[int, str], Awaitable[CustomerFacts | None]] | None = None,
    ) -> None:
        self._maker = maker
        self._ttl = ttl
        self._load = load or self._query
        self._cache: dict[tuple[int, str], tuple[float, CustomerFacts | None]] = {}

    async def get(self, workspace_id: int, customer_id: str) -> CustomerFacts | None:
        key = (workspace_id, customer_id)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        facts = await self._load(workspace_id, customer_id)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (now + self._ttl, facts)
        return facts

    async def _query(self, workspace_id: int, customer_id: str) -> CustomerFacts | None:
        async with self._maker() as session:
            return await get_facts(session, workspace_id=workspace_id, customer_id=customer_id)

    def forget(self, workspace_id: int, customer_id: str) -> None:
        self._cache.pop((workspace_id, customer_id), None)

"""Recording orders, refunds and cancellations: idempotent by the shop's ids, and every change
kept in the customer's facts (contacts) so rules see them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.commerce.models import Order, OrderLine, OrderStatus, Refund
from kohtaamo.commerce.schemas import OrderCreate, OrderLineRead, OrderRead, RefundCreate
from kohtaamo.contacts import service as contacts
from kohtaamo.db.engine import transaction
from kohtaamo.kit.clock import as_utc, utcnow
from kohtaamo.kit.errors import Conflict, Invalid, NotFound
from kohtaamo.tracking.service import PurchaseSeen


async def get_order(session: AsyncSession, workspace_id: int, order_key: str) -> Order:
    order = await _find(session, workspace_id, order_key)
    if order is None:
        raise NotFound("no such order", field="order_id")
    return order


async def _find(session: AsyncSession, workspace_id: int, order_key: str) -> Order | None:
    return (
        await session.execute(
            select(Order)
            .where(Order.workspace_id == workspace_id, Order.order_key == order_key)
            .with_for_update()
        )
    ).scalar_one_or_none()


async def lines_of(session: AsyncSession, order: Order) -> list[OrderLine]:
    rows = await session.execute(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    )
    return list(rows.scalars())


async def read(session: AsyncSession, order: Order) -> OrderRead:
    return OrderRead(
        order_id=order.order_key,
        customer_id=order.customer_id,
        visitor_id=order.visitor_key,
        email_hash=order.email_hash,
        total=order.total,
        refunded=order.refunded,
        currency=order.currency,
        status=order.status,
        source=order.source,
        confirmed=order.confirmed,
        placed_at=order.placed_at,
        lines=[OrderLineRead.model_validate(x) for x in await lines_of(session, order)],
    )


async def record_order(
    session: AsyncSession,
    *,
    workspace_id: int,
    data: OrderCreate,
    source: str,
    confirmed: bool,
) -> tuple[Order, bool]:
    """Store an order once. Returns (order, created). The same order id again is the same order:
    from the shop's server it confirms (and completes) what the widget saw; a re-sent report
    changes nothing; other amounts under a known id are refused (refund or cancel instead)."""
    now = utcnow()
    placed = as_utc(data.created_at) if data.created_at else now
    existing = await _find(session, workspace_id, data.order_id)
    if existing is not None:
        if existing.confirmed or not confirmed:
            if (existing.total, existing.currency) != (data.total, data.currency):
                raise Conflict(
                    f"order {data.order_id} is already recorded with "
                    f"{existing.total} {existing.currency}; refund or cancel it to change it",
                    field="order_id",
                )
            return existing, False
        await _confirm(session, existing, data, source=source, placed=placed, now=now)
        return existing, False
    order = Order(
        workspace_id=workspace_id,
        order_key=data.order_id,
        customer_id=data.customer_id,
        visitor_key=data.visitor_id,
        email_hash=data.hashed_email(),
        total=data.total,
        refunded=0,
        currency=data.currency,
        status=OrderStatus.placed,
        source=source,
        confirmed=confirmed,
        placed_at=placed,
        received_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    _add_lines(session, order, data)
    if order.customer_id:
        await contacts.record_order(
            session,
            workspace_id=workspace_id,
            customer_id=order.customer_id,
            total=order.total,
            currency=order.currency,
            at=placed,
        )
    await session.flush()
    return order, True


def _add_lines(session: AsyncSession, order: Order, data: OrderCreate) -> None:
    for line in data.lines:
        session.add(
            OrderLine(
                order_id=order.id,
                product_id=line.product_id,
                category=line.category,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
        )


async def _confirm(
    session: AsyncSession,
    order: Order,
    data: OrderCreate,
    *,
    source: str,
    placed: datetime,
    now: datetime,
) -> None:
    """The shop's server reports an order the widget already saw: the server's values win, and
    the customer's facts move by the difference (the order still counts once)."""
    if order.currency != data.currency:
        raise Conflict("the order was seen in another currency", field="currency")
    old_customer, old_total = order.customer_id, order.total
    order.customer_id = data.customer_id or order.customer_id
    order.visitor_key = order.visitor_key or data.visitor_id
    order.email_hash = order.email_hash or data.hashed_email()
    order.total = data.total
    order.source = source
    order.confirmed = True
    order.placed_at = min(as_utc(order.placed_at), placed)
    order.updated_at = now
    if data.lines and not await lines_of(session, order):
        _add_lines(session, order, data)
    if order.customer_id and order.customer_id == old_customer and order.total != old_total:
        await contacts.adjust_value(
            session,
            workspace_id=order.workspace_id,
            customer_id=order.customer_id,
            delta=order.total - old_total,
        )
    elif order.customer_id and order.customer_id != old_customer:
        if old_customer:
            await contacts.cancel_order(
                session,
                workspace_id=order.workspace_id,
                customer_id=old_customer,
                remaining=old_total,
            )
        await contacts.record_order(
            session,
            workspace_id=order.workspace_id,
            customer_id=order.customer_id,
            total=order.total,
            currency=order.currency,
            at=placed,
        )
    await session.flush()


async def refund(session: AsyncSession, order: Order, data: RefundCreate) -> Refund:
    """A refund, once per refund id; never more than what is left of the order."""
    seen = (
        await session.execute(
            select(Refund).where(Refund.order_id == order.id, Refund.refund_key == data.refund_id)
        )
    ).scalar_one_or_none()
    if seen is not None:
        if seen.amount != data.amount:
            raise Conflict(
                f"refund {data.refund_id} is already recorded as {seen.amount}", field="refund_id"
            )
        return seen
    if order.status == OrderStatus.cancelled:
        raise Conflict("the order is cancelled", field="order_id")
    left = order.total - order.refunded
    if data.amount > left:
        raise Invalid(f"amount: at most {left} is left to refund", field="amount")
    now = utcnow()
    row = Refund(
        order_id=order.id,
        refund_key=data.refund_id,
        amount=data.amount,
        at=as_utc(data.created_at) if data.created_at else now,
    )
    session.add(row)
    order.refunded += data.amount
    order.status = (
        OrderStatus.refunded if order.refunded == order.total else OrderStatus.partially_refunded
    )
    order.updated_at = now
    if order.customer_id:
        await contacts.record_order(
            session,
            workspace_id=order.workspace_id,
            customer_id=order.customer_id,
            total=-data.amount,
            currency=order.currency,
            at=row.at,
        )
    await session.flush()
    return row


async def cancel(session: AsyncSession, order: Order) -> Order:
    """The order will not happen: it stops counting (idempotent)."""
    if order.status == OrderStatus.cancelled:
        return order
    if order.customer_id:
        await contacts.cancel_order(
            session,
            workspace_id=order.workspace_id,
            customer_id=order.customer_id,
            remaining=order.total - order.refunded,
        )
    order.status = OrderStatus.cancelled
    order.updated_at = utcnow()
    await session.flush()
    return order


def widget_purchases(
    maker: async_sessionmaker[AsyncSession],
) -> Callable[[PurchaseSeen], Awaitable[None]]:
    """The bus handler for the widget's purchase events: an unconfirmed order, unless the shop's
    server already reported that order id (its values win, whatever the widget saw)."""

    async def handle(event: PurchaseSeen) -> None:
        async with transaction(maker) as session:
            if await _find(session, event.workspace_id, event.order_id) is not None:
                return
            data = OrderCreate(
                order_id=event.order_id,
                customer_id=event.customer_id,
                visitor_id=event.visitor_key,
                total=event.value,
                currency=event.currency,
                created_at=event.at,
            )
            await record_order(
                session,
                workspace_id=event.workspace_id,
                data=data,
                source="widget",
                confirmed=False,
            )

    return handle

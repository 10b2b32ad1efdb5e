"""Orders from the shop's server: `POST /api/v1/orders` (idempotent by order id), refunds and
cancellations; staff read them under their workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from kohtaamo.auth.dependencies import MemberAccess
from kohtaamo.commerce import service
from kohtaamo.commerce.dependencies import ServerSite
from kohtaamo.commerce.models import Order
from kohtaamo.commerce.schemas import OrderCreate, OrderRead, RefundCreate
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
staff = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["orders"])
OrderId = Annotated[str, Path(min_length=1, max_length=128)]


@router.post("", status_code=201, responses={200: {"description": "already recorded"}})
async def create_order(
    body: OrderCreate, site: ServerSite, db: DB, response: Response
) -> OrderRead:
    order, created = await service.record_order(
        db, workspace_id=site.workspace_id, data=body, source="api", confirmed=True
    )
    if not created:
        response.status_code = 200
    return await service.read(db, order)


@router.get("/{order_id}")
async def get_order(order_id: OrderId, site: ServerSite, db: DB) -> OrderRead:
    return await service.read(db, await service.get_order(db, site.workspace_id, order_id))


@router.post("/{order_id}/refunds", status_code=201)
async def refund_order(
    order_id: OrderId, body: RefundCreate, site: ServerSite, db: DB
) -> OrderRead:
    order = await service.get_order(db, site.workspace_id, order_id)
    await service.refund(db, order, body)
    return await service.read(db, order)


@router.post("/{order_id}/cancel")
async def cancel_order(order_id: OrderId, site: ServerSite, db: DB) -> OrderRead:
    order = await service.get_order(db, site.workspace_id, order_id)
    await service.cancel(db, order)
    return await service.read(db, order)


@staff.get("/orders")
async def list_orders(
    access: MemberAccess,
    db: DB,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OrderRead]:
    stmt = select(Order).where(Order.workspace_id == access.workspace_id)
    if customer_id:
        stmt = stmt.where(Order.customer_id == customer_id)
    rows = (await db.execute(stmt.order_by(Order.placed_at.desc()).limit(limit))).scalars()
    return [await service.read(db, o) for o in rows]

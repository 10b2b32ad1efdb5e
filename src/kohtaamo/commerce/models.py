"""Orders as the shop reports them (API, Shopify, WooCommerce) or the widget saw them (purchase
events): one row per order id, its lines, and its refunds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kohtaamo.db.base import Base, BigIntPK, UTCDateTime


class OrderStatus(StrEnum):
    placed = "placed"
    partially_refunded = "partially_refunded"
    refunded = "refunded"
    cancelled = "cancelled"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("workspace_id", "order_key", name="uq_orders_workspace_order"),
        CheckConstraint(
            "status IN ('placed', 'partially_refunded', 'refunded', 'cancelled')", name="status"
        ),
        CheckConstraint("total >= 0 AND refunded >= 0", name="amounts"),
        Index("ix_orders_customer", "workspace_id", "customer_id", "placed_at"),
        Index("ix_orders_visitor", "workspace_id", "visitor_key", "placed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    order_key: Mapped[str] = mapped_column(String(128))  # the shop's own order id
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    visitor_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    total: Mapped[int] = mapped_column(BigInteger)  # minor units
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.placed)
    source: Mapped[str] = mapped_column(String(12))  # api | shopify | woocommerce | widget
    confirmed: Mapped[bool] = mapped_column(default=False)  # reported by the shop's server
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (Index("ix_order_lines_order", "order_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str | None] = mapped_column(String(128), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)


class Refund(Base):
    __tablename__ = "order_refunds"
    __table_args__ = (UniqueConstraint("order_id", "refund_key", name="uq_order_refunds_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    refund_key: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Integration(Base):
    """A shop platform's webhook secret. Kept as is (not hashed): verifying a signature needs it."""

    __tablename__ = "commerce_integrations"
    __table_args__ = (CheckConstraint("platform IN ('shopify', 'woocommerce')", name="platform"),)

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    secret: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

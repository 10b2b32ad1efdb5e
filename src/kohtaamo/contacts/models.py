from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kohtaamo.db.base import Base, BigIntPK, UTCDateTime


class Customer(Base):
    """A shop's customer by the shop's own id, with running order facts that rules read.

    Orders (commerce) keep these up to date; a visitor becomes this customer by `identify`.
    """

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("workspace_id", "customer_id", name="uq_customers_workspace_customer"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(128))
    orders: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_value: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

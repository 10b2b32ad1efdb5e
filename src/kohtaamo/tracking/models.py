from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from kohtaamo.db.base import Base, BigIntPK, JSONType, UTCDateTime


class Visitor(Base):
    """A browser (client-made id) in one workspace; `customer_id` once it identifies."""

    __tablename__ = "visitors"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key", name="uq_visitors_workspace_key"),
        Index("ix_visitors_customer", "workspace_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    visit_count: Mapped[int] = mapped_column(Integer, default=0)
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Visit(Base):
    """A session of one visitor. `number` is 1 for the first visit; set once, atomically."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "visitor_key", "key", name="uq_visits_workspace_visitor_key"
        ),
        Index("ix_visits_started", "workspace_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    visitor_key: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    landing_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    referrer: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    utm_source: Mapped[str | None] = mapped_column(String(256), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(256), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(256), nullable=True)
    newsletter_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class TrackedEvent(Base):
    """Append-only. `seq` orders rows for the analytics archive's high-water mark."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id", name="uq_events_workspace_event_id"),
        Index("ix_events_visitor_ts", "workspace_id", "visitor_key", "ts"),
        Index("ix_events_workspace_type_ts", "workspace_id", "type", "ts"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    visitor_key: Mapped[str] = mapped_column(String(64))
    visit_key: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(71))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    props: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    clamped: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(8), default="widget")

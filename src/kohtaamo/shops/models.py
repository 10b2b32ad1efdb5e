from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kohtaamo.db.base import Base, JSONType, UTCDateTime


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    site_key: Mapped[str] = mapped_column(String(64), unique=True)
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    locale: Mapped[str] = mapped_column(String(2), default="fi")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # The widget's look and page-type patterns: {"title", "color", "page_patterns": [{pattern, type}]}.
    widget: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Days after a rule exposure or a chat within which an order is credited to it.
    attribution_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    # A conversation with no message for this many hours is closed by Kohtaamo (chat.idle): one
    # left open would otherwise keep every rule quiet for that visitor for good (ADR 0012).
    chat_auto_resolve_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    # When set, `identify` must carry hex HMAC-SHA256(secret, customer_id) made by the shop's
    # server; otherwise anyone's browser could claim any customer's history.
    identity_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def identity_verification(self) -> bool:
        return self.identity_secret is not None


class ApiKey(Base):
    """A secret server-to-server key. Only its SHA-256 is kept; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_workspace", "workspace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from kohtaamo.db.base import Base, BigIntPK, JSONType, UTCDateTime


class Goal(StrEnum):
    sales = "sales"
    satisfaction = "satisfaction"
    exit_reduction = "exit_reduction"
    lead = "lead"


class Outcome(StrEnum):
    fired = "fired"
    held_out = "held_out"
    suppressed = "suppressed"


class Rule(Base):
    """An opening rule: condition + action + goal + limits; every rule is an experiment."""

    __tablename__ = "rules"
    __table_args__ = (
        Index("ix_rules_workspace", "workspace_id"),
        CheckConstraint("holdout_share >= 0 AND holdout_share <= 0.9", name="holdout_share"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    condition: Mapped[Any] = mapped_column(JSONType)
    action: Mapped[dict[str, Any]] = mapped_column(JSONType)
    goal: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    cap_per_visit: Mapped[int] = mapped_column(Integer, default=1)
    cap_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    holdout_share: Mapped[float] = mapped_column(Float, default=0.1)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    min_free_agents: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Salt of the arm hash: fixed at creation so arms never move when the rule is edited.
    seed: Mapped[str] = mapped_column(String(32))
    # Bumped by every edit: workers compare sums of revisions to see that rules changed.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Exposure(Base):
    """One decision about one rule for one visit: the basis of every uplift figure.

    `context` is the visitor context at the moment (fired and held out), so a chat opened by the
    rule and the report on it can show what the visitor was doing.
    """

    __tablename__ = "exposures"
    __table_args__ = (
        Index("ix_exposures_visitor", "workspace_id", "visitor_key", "at"),
        Index("ix_exposures_workspace_at", "workspace_id", "at"),
        # A person's exposures on every device (rules/people.py, ADR 0013).
        Index("ix_exposures_customer", "workspace_id", "customer_id"),
        CheckConstraint("outcome IN ('fired', 'held_out', 'suppressed')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    visitor_key: Mapped[str] = mapped_column(String(64))
    visit_key: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(12))
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kohtaamo.kit.text import Clean
from kohtaamo.rules.models import Goal

Message = Annotated[Clean, Field(min_length=1, max_length=1000)]
Messages = dict[Literal["fi", "en"], Message]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Persona(BaseModel):
    """Who the opening message appears to come from (an agent's name, or an automatic greeter)."""

    model_config = ConfigDict(extra="forbid")
    name: Clean = Field(min_length=1, max_length=80)
    title: Clean | None = Field(default=None, max_length=80)
    automatic: bool = False


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["open_chat", "suggest_product"] = "open_chat"
    messages: Messages = Field(min_length=1)
    persona: Persona | None = None
    # With nobody online: offer "leave a message" (a lead), or stay quiet.
    offline: Literal["leave_message", "quiet"] = "leave_message"
    product_id: Clean | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _product(self) -> Action:
        if self.type == "suggest_product" and not self.product_id:
            raise ValueError("suggest_product needs product_id")
        return self


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7
    )
    from_: str = Field(alias="from", default="00:00")
    to: str = "24:00"

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if v == "24:00" or _HHMM.match(v):
            return v
        raise ValueError("must be a local time HH:MM, e.g. 09:00")

    def stored(self) -> dict[str, Any]:
        # "24:00" is stored as the end of the day: 00:00, a window running to midnight.
        return {
            "days": sorted(set(self.days)),
            "from": self.from_,
            "to": self.to.replace("24:00", "00:00"),
        }


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    weight: float = Field(default=1.0, gt=0, le=1000)
    messages: Messages = Field(min_length=1)


class RuleFields(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    condition: Any = None
    action: Action | None = None
    goal: Goal | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    cap_per_visit: int | None = Field(default=None, ge=1, le=100)
    cap_days: int | None = Field(default=None, ge=1, le=365)
    active_hours: Hours | None = None
    holdout_share: float | None = Field(default=None, ge=0, le=0.9)
    variants: list[VariantIn] | None = Field(default=None, max_length=10)
    min_free_agents: int | None = Field(default=None, ge=0, le=100)
    is_default: bool | None = None
    enabled: bool | None = None

    @field_validator("variants")
    @classmethod
    def _unique(cls, v: list[VariantIn] | None) -> list[VariantIn] | None:
        if v is not None and len({x.key for x in v}) != len(v):
            raise ValueError("variant keys must be unique")
        return v


class RuleCreate(RuleFields):
    name: Clean = Field(min_length=1, max_length=120)
    condition: Any
    action: Action
    goal: Goal = Goal.sales
    priority: int = Field(default=50, ge=0, le=1000)
    cap_per_visit: int = Field(default=1, ge=1, le=100)
    holdout_share: float = Field(default=0.1, ge=0, le=0.9)
    variants: list[VariantIn] = Field(default_factory=list, max_length=10)
    min_free_agents: int = Field(default=0, ge=0, le=100)
    is_default: bool = False
    enabled: bool = True
    template: str | None = Field(default=None, max_length=64)
    # The assignment seed: random unless given, so an experiment (or a test, or the simulator)
    # can be replayed with the same arms. Never changes after creation.
    seed: str | None = Field(default=None, min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class RuleUpdate(RuleFields):
    """Only the fields sent change; `cap_days` and `active_hours` can be set to null."""

    name: Clean | None = Field(default=None, min_length=1, max_length=120)


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    workspace_id: int
    name: str
    enabled: bool
    condition: Any
    action: dict[str, Any]
    goal: str
    priority: int
    cap_per_visit: int
    cap_days: int | None
    active_hours: dict[str, Any] | None
    holdout_share: float
    variants: list[dict[str, Any]]
    min_free_agents: int
    is_default: bool
    template: str | None
    created_at: datetime
    updated_at: datetime


class ExposureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    rule_id: int
    visitor_id: str
    visit_id: str
    at: datetime
    outcome: str
    variant: str | None
    reason: str | None


class TryRequest(BaseModel):
    """Evaluate a condition against a recent visit (visitor_id + visit_id) or a pasted context."""

    model_config = ConfigDict(extra="forbid")
    condition: Any = None
    rule_id: int | None = None
    visitor_id: str | None = Field(default=None, max_length=64)
    visit_id: str | None = Field(default=None, max_length=64)
    context: dict[str, Any] | None = None


class TraceStep(BaseModel):
    path: str
    op: str
    value: Any


class TryResult(BaseModel):
    result: Any
    matched: bool
    context: dict[str, Any]
    trace: list[TraceStep]
    check_in: float | None = Field(
        default=None, description="seconds until the condition would become true with no event"
    )


class TemplateRead(BaseModel):
    slug: str
    name: dict[str, str]
    description: dict[str, str]
    group: str
    rule: dict[str, Any]

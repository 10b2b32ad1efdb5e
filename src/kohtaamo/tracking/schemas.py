"""The /track payload and the props each built-in event type must carry."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, Field(max_length=300)]


def _parsable(value: str) -> str:
    try:
        urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    return value


Url = Annotated[str, Field(max_length=2048), AfterValidator(_parsable)]
Ident = Annotated[str, Field(min_length=1, max_length=128)]
Minor = Annotated[int, Field(ge=0, le=10**11, description="money in minor units (cents)")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
CUSTOM = re.compile(r"^custom:[a-z0-9][a-z0-9_.-]{0,63}$")


class PageType(StrEnum):
    product = "product"
    category = "category"
    cart = "cart"
    checkout = "checkout"
    faq = "faq"
    landing = "landing"
    search = "search"
    account = "account"
    other = "other"


class Props(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoProps(Props):
    pass


class Reason(Props):
    reason: Text | None = None


class PageView(Props):
    url: Url
    page_type: PageType = PageType.other
    referrer: Url | None = None
    title: Text | None = None
    product_id: Ident | None = None
    category: Ident | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return v


class CartLine(Props):
    product_id: Ident
    category: Ident | None = None
    unit_price: Minor
    quantity: int = Field(default=1, ge=1, le=10_000)
    currency: Currency | None = None


class CartAddFailed(CartLine):
    reason: Text | None = None


class CheckoutStep(Props):
    step: int = Field(ge=1, le=50)
    name: Text | None = None


class FormError(Props):
    form: Ident
    field: Ident
    message: Text | None = None


class PaymentFailed(Props):
    method: Ident
    reason: Text | None = None


class DiscountRejected(Props):
    code: Ident
    reason: Text | None = None


class ServerError(Props):
    status: int = Field(ge=500, le=599)
    url: Url | None = None


class NotFoundReached(Props):
    url: Url | None = None
    referrer: Url | None = None
    internal: bool = False


class ComparisonUsed(Props):
    product_ids: list[Ident] = Field(default_factory=list, max_length=20)


class ReviewsRead(Props):
    product_id: Ident | None = None


class Identify(Props):
    customer_id: Ident
    # hex HMAC-SHA256(identity secret, customer_id); checked, then dropped (never stored)
    signature: str | None = Field(default=None, max_length=128)


class Purchase(Props):
    order_id: Ident
    value: Minor
    currency: Currency


PROPS: dict[str, type[Props]] = {
    "page_view": PageView,
    "cart_add": CartLine,
    "cart_remove": CartLine,
    "cart_add_failed": CartAddFailed,
    "checkout_step": CheckoutStep,
    "form_error": FormError,
    "login_failed": Reason,
    "account_locked": NoProps,
    "registration_failed": Reason,
    "email_already_registered": NoProps,
    "payment_failed": PaymentFailed,
    "discount_rejected": DiscountRejected,
    "server_error": ServerError,
    "not_found": NotFoundReached,
    "comparison_used": ComparisonUsed,
    "reviews_read": ReviewsRead,
    "identify": Identify,
    "purchase": Purchase,
}
EVENT_TYPES = tuple(PROPS)


class RawEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: UUID
    type: str = Field(min_length=1, max_length=71)
    ts: Any = Field(description="epoch milliseconds, or ISO 8601 with a zone")
    props: dict[str, Any] = Field(default_factory=dict)


class TrackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_key: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    visitor_id: Key
    visit_id: Key
    events: list[Any] = Field(min_length=1)
    sent_at: Any = Field(
        default=None,
        description="the sender's clock when the batch left (epoch ms or ISO 8601): lets the "
        "server place queued events in its own time for the rules' timers",
    )


class TrackResult(BaseModel):
    accepted: int
    duplicates: int
    clamped: int = Field(description="events whose future timestamp was set to the server's time")
    visit_number: int
    returning: bool
    actions: list[dict[str, Any]] = Field(
        default_factory=list, description="what the widget should show now (docs/rules.md)"
    )
    check_in: float | None = Field(
        default=None,
        description="seconds after which to ask POST /api/v1/decide, if no event comes first",
    )


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_key: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    visitor_id: Key
    visit_id: Key


class DecideResult(BaseModel):
    actions: list[dict[str, Any]] = Field(default_factory=list)
    check_in: float | None = None


class EventRead(BaseModel):
    id: UUID
    type: str
    ts: datetime
    received_at: datetime
    visitor_id: str
    visit_id: str
    props: dict[str, Any]
    clamped: bool
    source: str


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    visit_id: str
    visitor_id: str
    number: int | None
    started_at: datetime
    last_event_at: datetime
    landing_url: str | None
    referrer: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    newsletter_id: str | None
    customer_id: str | None


class VisitorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    visitor_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    visit_count: int
    customer_id: str | None

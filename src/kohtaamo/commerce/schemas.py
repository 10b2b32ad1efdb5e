"""Orders in and out. Money is integer minor units with an ISO currency; times are aware UTC."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from kohtaamo.kit.text import Clean

Ident = Annotated[Clean, Field(min_length=1, max_length=128)]
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Minor = Annotated[int, Field(ge=0, le=10**11, description="money in minor units (cents)")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
HexHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def email_hash(email: str) -> str:
    """SHA-256 of the trimmed, lower-cased address: orders and people meet without the address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    product_id: Ident
    category: Ident | None = None
    quantity: int = Field(default=1, ge=1, le=10_000)
    unit_price: Minor


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    order_id: Ident
    customer_id: Ident | None = None
    visitor_id: Key | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = Field(
        default=None, description="hashed on arrival; only the hash is kept"
    )
    email_hash: HexHash | None = Field(default=None, description="SHA-256 of the lower-cased email")
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=500)
    total: Minor
    currency: Currency
    created_at: AwareDatetime | None = Field(default=None, description="default: now")

    @model_validator(mode="after")
    def _one_email(self) -> OrderCreate:
        if self.email and self.email_hash and email_hash(self.email) != self.email_hash:
            raise ValueError("email and email_hash disagree; send one of them")
        return self

    def hashed_email(self) -> str | None:
        return self.email_hash or (email_hash(self.email) if self.email else None)


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    refund_id: Ident
    amount: Annotated[int, Field(gt=0, le=10**11)]
    created_at: AwareDatetime | None = None


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    product_id: str
    category: str | None
    quantity: int
    unit_price: int


class OrderRead(BaseModel):
    order_id: str
    customer_id: str | None
    visitor_id: str | None
    email_hash: str | None
    total: int
    refunded: int
    currency: str
    status: str
    source: str
    confirmed: bool
    placed_at: datetime
    lines: list[OrderLineRead]

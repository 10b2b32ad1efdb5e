from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kohtaamo.kit.text import Clean

_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def normalise_origin(value: str) -> str:
    """`https://shop.example` or `https://*.example.com` (any subdomain); no path, query or user."""
    raw = value.strip().lower().rstrip("/")
    parts = urlsplit(raw)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.path or parts.query:
        raise ValueError(f"{value!r} is not an origin like https://shop.example")
    if parts.username or parts.password or parts.fragment or not _HOST.match(host):
        raise ValueError(f"{value!r} is not an origin like https://shop.example")
    default = {"http": 80, "https": 443}[parts.scheme]
    # Browsers leave the default port out of Origin, so "https://shop.example:443" must too.
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def _origins(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        o = normalise_origin(v)
        if o not in out:
            out.append(o)
    return out


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Helsinki") from None
    return value


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Clean = Field(min_length=1, max_length=120)
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    timezone: str = "Europe/Helsinki"
    locale: Literal["fi", "en"] = "fi"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")

    _o = field_validator("allowed_origins")(_origins)
    _t = field_validator("timezone")(_timezone)


class WorkspaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Clean | None = Field(default=None, min_length=1, max_length=120)
    allowed_origins: list[str] | None = Field(default=None, max_length=50)
    timezone: str | None = None
    locale: Literal["fi", "en"] | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    attribution_days: int | None = Field(default=None, ge=1, le=90)

    @field_validator("allowed_origins")
    @classmethod
    def _o(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _origins(v)

    @field_validator("timezone")
    @classmethod
    def _t(cls, v: str | None) -> str | None:
        return None if v is None else _timezone(v)


class WorkspaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    site_key: str
    allowed_origins: list[str]
    timezone: str
    locale: str
    currency: str
    attribution_days: int
    chat_auto_resolve_hours: int
    identity_verification: bool
    created_at: datetime


class IdentitySecretRead(BaseModel):
    """Shown once: the shop's server signs each customer id with it (docs/analytics.md)."""

    secret: str


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Clean = Field(min_length=1, max_length=120)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    secret: str = Field(description="Shown once; only its hash is stored.")

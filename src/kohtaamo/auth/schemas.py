from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kohtaamo.auth.passwords import MIN_LENGTH
from kohtaamo.kit.text import Clean


def _email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value or len(value) > 254:
        raise ValueError("is not an email address")
    return value


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Clean = Field(max_length=254)
    password: Clean = Field(min_length=1, max_length=1024)
    label: Clean = Field(default="api", max_length=120)

    _email = field_validator("email")(_email)


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Clean = Field(max_length=254)
    name: Clean = Field(min_length=1, max_length=120)
    password: Clean = Field(min_length=MIN_LENGTH, max_length=1024)
    locale: Literal["fi", "en"] = "en"

    _email = field_validator("email")(_email)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    locale: str


class MembershipRead(BaseModel):
    workspace_id: int
    workspace_name: str
    role: str


class MyInvitationRead(BaseModel):
    id: int
    workspace_id: int
    workspace_name: str
    role: str
    expires_at: datetime


class MeRead(UserRead):
    memberships: list[MembershipRead]
    invitations: list[MyInvitationRead]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Clean = Field(max_length=254)
    role: Literal["owner", "admin", "agent"] = "agent"

    _email = field_validator("email")(_email)


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["owner", "admin", "agent"]


class MemberRead(BaseModel):
    user_id: int
    email: str
    name: str
    role: str


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    role: str
    created_at: datetime
    expires_at: datetime

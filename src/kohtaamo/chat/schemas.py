"""Socket frames and the chat API's bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from kohtaamo.chat.models import MAX_BODY
from kohtaamo.kit.text import Clean

Body = Annotated[Clean, Field(min_length=1, max_length=MAX_BODY)]
ClientId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")]
ConvId = Annotated[int, Field(ge=1)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Ping(_Frame):
    type: Literal["ping"]


class Sync(_Frame):
    type: Literal["sync"]
    conversation_id: ConvId
    after: int = Field(ge=0)


class VisitorMessage(_Frame):
    type: Literal["message"]
    client_id: ClientId
    body: Body
    exposure_id: int | None = Field(default=None, ge=1)
    email: Email | None = None


class VisitorTyping(_Frame):
    type: Literal["typing"]
    on: bool


class Read(_Frame):
    type: Literal["read"]
    seq: int = Field(ge=0)


class Rate(_Frame):
    type: Literal["rate"]
    value: Literal["up", "down"]
    comment: Annotated[Clean, Field(max_length=1000)] | None = None


class AgentMessage(_Frame):
    type: Literal["message"]
    conversation_id: ConvId
    client_id: ClientId
    body: Body
    note: bool = False


class AgentTyping(_Frame):
    type: Literal["typing"]
    conversation_id: ConvId
    on: bool


class AgentReadFrame(_Frame):
    type: Literal["read"]
    conversation_id: ConvId
    seq: int = Field(ge=0)


class PresenceFrame(_Frame):
    type: Literal["presence"]
    workspace_id: int = Field(ge=1)
    status: Literal["online", "away"] | None = None
    capacity: int | None = Field(default=None, ge=0, le=50)


VisitorFrame = Annotated[
    Ping | Sync | VisitorMessage | VisitorTyping | Read | Rate, Field(discriminator="type")
]
AgentFrame = Annotated[
    Ping | Sync | AgentMessage | AgentTyping | AgentReadFrame | PresenceFrame,
    Field(discriminator="type"),
]
_visitor: TypeAdapter[Any] = TypeAdapter(cast(Any, VisitorFrame))
_agent: TypeAdapter[Any] = TypeAdapter(cast(Any, AgentFrame))


def parse_visitor_frame(raw: object) -> Any:
    return _visitor.validate_python(raw)


def parse_agent_frame(raw: object) -> Any:
    return _agent.validate_python(raw)


# --- HTTP -------------------------------------------------------------------------------------


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    conversation_id: int
    seq: int
    author: str
    author_id: int | None
    author_name: str
    body: str
    note: bool
    client_id: str | None
    created_at: datetime


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    workspace_id: int
    status: str
    origin: str
    visitor_key: str
    visit_key: str
    customer_id: str | None
    assignee_id: int | None
    team_id: int | None
    rule_id: int | None
    exposure_id: int | None
    variant: str | None
    locale: str
    lead_email: str | None
    last_seq: int
    messages_count: int
    preview: str
    created_at: datetime
    last_message_at: datetime
    queued_at: datetime | None
    assigned_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    rating: str | None
    rating_comment: str | None
    agent_read_seq: int
    visitor_read_seq: int
    assignee_name: str | None = None
    queue_position: int | None = None


class ConversationPage(BaseModel):
    items: list[ConversationRead]
    next_before: int | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int | None = Field(default=None, ge=1, description="default: the caller")


class ForwardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_user_id: int | None = Field(default=None, ge=1)
    to_team_id: int | None = Field(default=None, ge=1)
    note: Annotated[Clean, Field(max_length=500)] = ""


class CannedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    shortcut: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    locale: Literal["fi", "en"]
    title: Annotated[Clean, Field(min_length=1, max_length=120)]
    body: Body


class CannedReplyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    shortcut: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$"
    )
    title: Annotated[Clean, Field(min_length=1, max_length=120)] | None = None
    body: Body | None = None


class CannedReplyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    shortcut: str
    locale: str
    title: str
    body: str


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[Clean, Field(min_length=1, max_length=80)]


class TeamRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["online", "away"] | None = None
    capacity: int | None = Field(default=None, ge=0, le=50)
    team_id: int | None = Field(default=None, ge=1)


class AgentRead(BaseModel):
    user_id: int
    name: str
    status: str
    capacity: int
    team_id: int | None
    connected: bool
    open: int


class PagePattern(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pattern: str = Field(min_length=1, max_length=200, pattern=r"^/")
    type: Literal[
        "product", "category", "cart", "checkout", "faq", "landing", "search", "account", "other"
    ]


class WidgetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[Clean, Field(max_length=60)] | None = None
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    page_patterns: list[PagePattern] = Field(default_factory=list, max_length=50)
    # Hours without a message after which Kohtaamo closes a conversation (chat.idle); left out:
    # unchanged. An hour at least (a visitor thinking it over), 30 days at most.
    chat_auto_resolve_hours: int | None = Field(default=None, ge=1, le=720)


class WidgetConfig(BaseModel):
    locale: str
    title: str | None
    color: str | None
    page_patterns: list[dict[str, str]]
    agents_online: int

"""The chat's runtime parts, built once by the app: sessions, the hub, presence, limits.

`unit()` is a socket frame's transaction, as `web.deps.get_db` is a request's: commit, then the
domain events go out (so a frame is never sent for a write that rolled back)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.auth.service import MemberRemoved
from kohtaamo.bus import Bus, discard
from kohtaamo.chat import events, routing
from kohtaamo.chat.events import ChatEvent, LoadChanged
from kohtaamo.chat.raw import ChatStore, Stored
from kohtaamo.config import Settings
from kohtaamo.kit.ratelimit import RateLimiter
from kohtaamo.realtime.hub import Hub
from kohtaamo.realtime.presence import Presence
from kohtaamo.shops.directory import SiteDirectory
from kohtaamo.tracking.live import LiveStore, State

log = logging.getLogger(__name__)


@dataclass
class Switchboard:
    settings: Settings
    maker: async_sessionmaker[AsyncSession]
    bus: Bus
    hub: Hub
    presence: Presence
    limiter: RateLimiter
    live: LiveStore
    directory: SiteDirectory
    raw: ChatStore | None = None  # the one-message hot path on the raw driver (chat.raw)
    # Agent consoles open in this worker, per (workspace, user): presence ends with the last one.
    consoles: dict[tuple[int, int], int] = field(default_factory=dict)

    def wire(self) -> None:
        self.bus.subscribe(ChatEvent, self._fan_out)
        self.bus.subscribe(LoadChanged, self._recount)
        self.bus.subscribe(MemberRemoved, self._member_removed)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        async with self.maker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                discard(session)
                await session.rollback()
                raise
        await self.bus.deliver(session)

    async def _fan_out(self, event: ChatEvent) -> None:
        for topic in event.topics:
            await self.hub.publish(topic, event.frame)

    async def _recount(self, event: LoadChanged) -> None:
        async with self.maker() as session:
            await routing.refresh_presence(session, event.workspace_id, self.presence)

    async def _member_removed(self, event: MemberRemoved) -> None:
        """Their consoles close on every worker (the hub carries it), they leave presence, and
        their conversations go back to routing; in that order, so none is routed to them again."""
        ws, user = event.workspace_id, event.user_id
        await self.hub.publish(events.user_topic(user), {"type": "_revoked", "workspace_id": ws})
        await self.presence.drop_agent(ws, user)
        async with self.unit() as session:
            await routing.release(session, ws, user, presence=self.presence)

    async def announce_stored(self, stored: Stored) -> None:
        """The frames of a message stored on the raw path, as chat.events would publish them."""
        msg = stored.message
        frame = events.message_frame(msg)
        await self.hub.publish(events.conversation_topic(stored.conversation_id), frame)
        if stored.assignee_id is None:
            await self.hub.publish(events.agents_topic(stored.workspace_id), frame)
        if not msg.note:
            await self.hub.publish(
                events.visitor_topic(stored.workspace_id, stored.visitor_key), frame
            )

    async def visit_snapshot(self, workspace_id: int, visitor: str, visit: str) -> State | None:
        return await self.live.get((workspace_id, visitor, visit))


def snapshot_of(state: State | None) -> dict[str, Any] | None:
    """What the agent should see of the visit when the chat opened (not the whole live state)."""
    if not state:
        return None
    keys = (
        "page",
        "cart",
        "counts",
        "form_errors",
        "payment_failures",
        "internal_not_found",
        "pages_viewed",
        "number",
        "landing_url",
        "referrer",
        "utm",
        "customer_id",
    )
    return {k: state.get(k) for k in keys}

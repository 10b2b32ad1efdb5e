"""Domain events. A write publishes on the session; handlers run after the transaction commits,
so no reaction ever sees (or acts on) a write that was rolled back. Other domains react by
subscribing here instead of being imported by the writer."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

_PENDING = "kohtaamo.bus.pending"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every domain event; `workspace_id` names whose it is, `recipients` who hears it."""

    workspace_id: int


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


class Bus:
    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[kind].append(handler)

    async def dispatch(self, event: Event) -> None:
        for kind in type(event).__mro__:
            for handler in self._handlers.get(kind, ()):
                try:
                    await handler(event)
                except Exception:
                    # A failing reaction must not undo or fail the write that caused it.
                    log.exception("bus handler failed", extra={"event": type(event).__name__})

    async def deliver(self, session: AsyncSession) -> None:
        """Run the handlers of what `session` published; call after commit."""
        pending: list[Event] = session.info.pop(_PENDING, [])
        for event in pending:
            await self.dispatch(event)


def publish(session: AsyncSession, event: Event) -> None:
    session.info.setdefault(_PENDING, []).append(event)


def discard(session: AsyncSession) -> None:
    session.info.pop(_PENDING, None)

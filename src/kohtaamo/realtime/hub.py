"""Topic fan-out to live sockets: in one process a dict of inboxes; with Redis, pub/sub, so a
visitor on one worker and an agent on another hear each other.

A socket owns an `Inbox` (a bounded queue of already-encoded frames) and subscribes it to topics.
`publish` encodes once and every subscriber gets the same bytes. The hub carries no history:
whatever a socket misses (a full inbox, a reconnect, a restarted worker) it reads back from the
database by sequence number, so a lost frame delays a message but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, Protocol

from redis.asyncio import Redis

from kohtaamo.kit import jsonx

log = logging.getLogger(__name__)


class Inbox:
    """Frames waiting for one socket: encoded frames from the hub, and the socket's own items
    (any other object) in the same queue, so one task sends everything in order. A full inbox
    marks the socket as lagging: it is closed and the client resynchronises from the database,
    instead of the server buffering without bound."""

    __slots__ = ("lagging", "queue")

    def __init__(self, size: int = 1000) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue(size)
        self.lagging = False

    def put(self, item: object) -> None:
        if self.lagging:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.lagging = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(b"")  # wakes the sender, which sees `lagging` and closes

    async def get(self) -> object:
        return await self.queue.get()


class Hub(Protocol):
    async def subscribe(self, topic: str, inbox: Inbox) -> None: ...
    async def unsubscribe(self, topic: str, inbox: Inbox) -> None: ...
    async def publish(self, topic: str, frame: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...


class _Local:
    def __init__(self) -> None:
        self.topics: dict[str, set[Inbox]] = defaultdict(set)

    def add(self, topic: str, inbox: Inbox) -> bool:
        """True when this is the topic's first local subscriber."""
        subs = self.topics[topic]
        subs.add(inbox)
        return len(subs) == 1

    def remove(self, topic: str, inbox: Inbox) -> bool:
        """True when the topic has no local subscriber left."""
        subs = self.topics.get(topic)
        if subs is None:
            return False
        subs.discard(inbox)
        if subs:
            return False
        del self.topics[topic]
        return True

    def deliver(self, topic: str, data: bytes) -> None:
        for inbox in tuple(self.topics.get(topic, ())):
            inbox.put(data)


class MemoryHub:
    def __init__(self) -> None:
        self._local = _Local()

    async def subscribe(self, topic: str, inbox: Inbox) -> None:
        self._local.add(topic, inbox)

    async def unsubscribe(self, topic: str, inbox: Inbox) -> None:
        self._local.remove(topic, inbox)

    async def publish(self, topic: str, frame: dict[str, Any]) -> None:
        self._local.deliver(topic, jsonx.dumps(frame))

    async def close(self) -> None:
        self._local.topics.clear()


class RedisHub:
    """One pub/sub connection per worker; a Redis channel per topic with local subscribers.

    `subscribe` returns once Redis has confirmed the channel, so a socket that subscribes and
    then reads history from the database cannot fall between the two."""

    def __init__(self, redis: Redis, prefix: str = "kohtaamo:hub:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = _Local()
        self._pubsub = redis.pubsub(ignore_subscribe_messages=False)
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, topic: str, inbox: Inbox) -> None:
        async with self._lock:
            first = self._local.add(topic, inbox)
            channel = self._prefix + topic
            if first:
                fut = asyncio.get_running_loop().create_future()
                self._confirmed[channel] = fut
                await self._pubsub.subscribe(channel)
                if self._reader is None:
                    self._reader = asyncio.create_task(self._read(), name="hub-reader")
            fut_or_none = self._confirmed.get(channel)
        if fut_or_none is not None:
            await asyncio.wait_for(asyncio.shield(fut_or_none), timeout=5)

    async def unsubscribe(self, topic: str, inbox: Inbox) -> None:
        async with self._lock:
            if self._local.remove(topic, inbox):
                channel = self._prefix + topic
                self._confirmed.pop(channel, None)
                await self._pubsub.unsubscribe(channel)

    async def publish(self, topic: str, frame: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + topic, jsonx.dumps(frame))

    async def _read(self) -> None:
        cut = len(self._prefix)
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub: Redis pub/sub read failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if msg is None:
                continue
            channel = msg["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            if msg["type"] == "subscribe":
                fut = self._confirmed.pop(channel, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            elif msg["type"] == "message":
                self._local.deliver(channel[cut:], msg["data"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._local.topics.clear()

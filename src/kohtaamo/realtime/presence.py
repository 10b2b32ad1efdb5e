"""Who of a workspace's agents is online, with how many chats and what capacity.

The rule engine reads a snapshot on every decision (free slots, load, queue); the chat domain
writes it as agents come and go and take chats. In one process a dict; with Redis a hash per
workspace, so every worker sees the same team. An agent's entry expires unless refreshed
(`ttl`), so a crashed console does not leave a ghost agent that rules count on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from kohtaamo.kit import jsonx


@dataclass(frozen=True, slots=True)
class AgentLoad:
    online: int = 0
    capacity: int = 0
    active: int = 0
    queue: int = 0

    @property
    def free_slots(self) -> int:
        return max(self.capacity - self.active, 0)

    @property
    def load(self) -> float:
        """Share of capacity in use, 0..1; 1 when nobody is online (no room at all)."""
        if self.capacity <= 0:
            return 1.0
        return min(self.active / self.capacity, 1.0)


@dataclass(frozen=True, slots=True)
class AgentState:
    user_id: int
    status: str  # "online" | "away"
    capacity: int
    active: int


class Presence(Protocol):
    async def set_agent(self, workspace_id: int, agent: AgentState) -> None: ...
    async def drop_agent(self, workspace_id: int, user_id: int) -> None: ...
    async def set_queue(self, workspace_id: int, length: int) -> None: ...
    async def snapshot(self, workspace_id: int) -> AgentLoad: ...
    async def agents(self, workspace_id: int) -> list[AgentState]: ...
    async def close(self) -> None: ...


def _sum(agents: list[AgentState], queue: int) -> AgentLoad:
    online = [a for a in agents if a.status == "online"]
    return AgentLoad(
        online=len(online),
        capacity=sum(a.capacity for a in online),
        active=sum(min(a.active, a.capacity) for a in online),
        queue=queue,
    )


class MemoryPresence:
    def __init__(self, ttl: float = 90.0) -> None:
        self._ttl = ttl
        self._agents: dict[int, dict[int, tuple[float, AgentState]]] = {}
        self._queues: dict[int, int] = {}

    async def set_agent(self, workspace_id: int, agent: AgentState) -> None:
        self._agents.setdefault(workspace_id, {})[agent.user_id] = (
            time.monotonic() + self._ttl,
            agent,
        )

    async def drop_agent(self, workspace_id: int, user_id: int) -> None:
        self._agents.get(workspace_id, {}).pop(user_id, None)

    async def set_queue(self, workspace_id: int, length: int) -> None:
        self._queues[workspace_id] = max(length, 0)

    async def snapshot(self, workspace_id: int) -> AgentLoad:
        now = time.monotonic()
        team = self._agents.get(workspace_id, {})
        for uid in [u for u, (exp, _) in team.items() if exp < now]:
            del team[uid]
        return _sum([a for _, a in team.values()], self._queues.get(workspace_id, 0))

    async def agents(self, workspace_id: int) -> list[AgentState]:
        now = time.monotonic()
        return [a for exp, a in self._agents.get(workspace_id, {}).values() if exp >= now]

    async def close(self) -> None:
        self._agents.clear()


class RedisPresence:
    """`kohtaamo:presence:{ws}` hash user_id -> {status, capacity, active, expires}."""

    def __init__(self, redis: Redis, ttl: float = 90.0, prefix: str = "kohtaamo:presence:") -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix

    async def set_agent(self, workspace_id: int, agent: AgentState) -> None:
        value = {
            "status": agent.status,
            "capacity": agent.capacity,
            "active": agent.active,
            "expires": time.time() + self._ttl,
        }
        await self._redis.hset(  # type: ignore[misc]
            f"{self._prefix}{workspace_id}", str(agent.user_id), jsonx.dumps(value).decode()
        )

    async def drop_agent(self, workspace_id: int, user_id: int) -> None:
        await self._redis.hdel(f"{self._prefix}{workspace_id}", str(user_id))  # type: ignore[misc]

    async def set_queue(self, workspace_id: int, length: int) -> None:
        await self._redis.set(f"{self._prefix}{workspace_id}:queue", max(length, 0))

    async def snapshot(self, workspace_id: int) -> AgentLoad:
        key = f"{self._prefix}{workspace_id}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.get(f"{key}:queue")
            raw, queue = await pipe.execute()
        return _sum(_live(raw), int(queue or 0))

    async def agents(self, workspace_id: int) -> list[AgentState]:
        raw = await self._redis.hgetall(f"{self._prefix}{workspace_id}")  # type: ignore[misc]
        return _live(raw)

    async def close(self) -> None:
        return None


def _live(raw: dict[bytes, bytes]) -> list[AgentState]:
    now = time.time()
    agents = []
    for uid, blob in raw.items():
        v = jsonx.loads(blob)
        if v["expires"] >= now:
            agents.append(AgentState(int(uid), v["status"], v["capacity"], v["active"]))
    return agents

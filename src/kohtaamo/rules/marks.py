"""Per-visit decision marks: how often each rule fired in a visit, and which suppressions are
already recorded. Claims are atomic, so two workers deciding for one visit at the same moment
cannot both fire a rule capped at once per visit (Redis: HINCRBY / HSETNX on one hash per visit).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis

VisitKey = tuple[int, str, str]


class Marks(Protocol):
    async def fired(self, visit: VisitKey) -> dict[int, int]: ...
    async def claim(self, visit: VisitKey, rule_id: int, cap: int) -> bool: ...
    async def once(self, visit: VisitKey, token: str) -> bool: ...
    async def release(self, visit: VisitKey, rule_id: int) -> None: ...
    async def forget(self, visit: VisitKey, token: str) -> None: ...
    async def close(self) -> None: ...


class MemoryMarks:
    def __init__(self, ttl: float, max_visits: int = 200_000) -> None:
        self._ttl = ttl
        self._max = max_visits
        self._data: OrderedDict[VisitKey, tuple[float, dict[int, int], set[str]]] = OrderedDict()

    def _entry(self, visit: VisitKey) -> tuple[float, dict[int, int], set[str]]:
        now = time.monotonic()
        hit = self._data.get(visit)
        if hit is None or hit[0] < now:
            hit = (now + self._ttl, {}, set())
        else:
            hit = (now + self._ttl, hit[1], hit[2])
        self._data[visit] = hit
        self._data.move_to_end(visit)
        while len(self._data) > self._max:
            self._data.popitem(last=False)
        return hit

    async def fired(self, visit: VisitKey) -> dict[int, int]:
        hit = self._data.get(visit)
        return dict(hit[1]) if hit and hit[0] >= time.monotonic() else {}

    async def claim(self, visit: VisitKey, rule_id: int, cap: int) -> bool:
        counts = self._entry(visit)[1]
        if counts.get(rule_id, 0) >= cap:
            return False
        counts[rule_id] = counts.get(rule_id, 0) + 1
        return True

    async def once(self, visit: VisitKey, token: str) -> bool:
        seen = self._entry(visit)[2]
        if token in seen:
            return False
        seen.add(token)
        return True

    async def release(self, visit: VisitKey, rule_id: int) -> None:
        hit = self._data.get(visit)
        if hit and hit[1].get(rule_id, 0) > 0:
            hit[1][rule_id] -= 1

    async def forget(self, visit: VisitKey, token: str) -> None:
        hit = self._data.get(visit)
        if hit:
            hit[2].discard(token)

    async def close(self) -> None:
        self._data.clear()


class RedisMarks:
    def __init__(self, redis: Redis, ttl: int, prefix: str = "kohtaamo:marks:") -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix

    def _key(self, visit: VisitKey) -> str:
        return f"{self._prefix}{visit[0]}|{visit[1]}|{visit[2]}"

    async def fired(self, visit: VisitKey) -> dict[int, int]:
        raw = await self._redis.hgetall(self._key(visit))  # type: ignore[misc]
        out: dict[int, int] = {}
        for k, v in raw.items():
            name = k.decode() if isinstance(k, bytes) else k
            if name.startswith("n:"):
                out[int(name[2:])] = int(v)
        return out

    async def claim(self, visit: VisitKey, rule_id: int, cap: int) -> bool:
        key = self._key(visit)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, f"n:{rule_id}", 1)
            pipe.expire(key, self._ttl)
            count, _ = await pipe.execute()
        if int(count) > cap:
            # Lost the race (or already at the cap): take the extra count back.
            await self._redis.hincrby(key, f"n:{rule_id}", -1)  # type: ignore[misc]
            return False
        return True

    async def once(self, visit: VisitKey, token: str) -> bool:
        key = self._key(visit)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, f"s:{token}", "1")
            pipe.expire(key, self._ttl)
            new, _ = await pipe.execute()
        return bool(new)

    async def release(self, visit: VisitKey, rule_id: int) -> None:
        await self._redis.hincrby(self._key(visit), f"n:{rule_id}", -1)  # type: ignore[misc]

    async def forget(self, visit: VisitKey, token: str) -> None:
        await self._redis.hdel(self._key(visit), f"s:{token}")  # type: ignore[misc]

    async def close(self) -> None:
        return None

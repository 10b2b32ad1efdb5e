"""Rate limits: a token bucket in memory, or a shared fixed window in Redis for several workers."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(slots=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0


class RateLimiter(Protocol):
    async def hit(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Verdict: ...


class MemoryRateLimiter:
    """Token bucket per key: `rate` tokens a second, up to `burst`. One process only."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Verdict:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return Verdict(True)
        self._store(key, tokens, now)
        return Verdict(False, (cost - tokens) / rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            # Forget the full buckets first: they are the ones that carry no state worth keeping.
            self._buckets.clear()
        self._buckets[key] = (tokens, now)


_WINDOW_LUA = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {n, redis.call('PTTL', KEYS[1])}
"""


class RedisRateLimiter:
    """Fixed window shared by every worker: at most `burst` per `burst / rate` seconds."""

    def __init__(self, redis: Redis, prefix: str = "kohtaamo:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_WINDOW_LUA)

    async def hit(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Verdict:
        window_ms = max(1, math.ceil(burst / rate * 1000))
        count, ttl = await self._script(keys=[self._prefix + key], args=[cost, window_ms])
        if int(count) <= burst:
            return Verdict(True)
        return Verdict(False, max(int(ttl), 1) / 1000.0)

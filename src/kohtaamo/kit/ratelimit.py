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
    """Token bucket per key: `rate` tokens a second, up to `burst`. One process only.

    When the table is full, the buckets closest to full are forgotten first (a full bucket is the
    same as none), so a flood of new keys cannot reset a bucket that is holding someone back."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float, float, int]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Verdict:
        now = time.monotonic()
        old = self._buckets.pop(key, None)
        tokens = float(burst) if old is None else min(float(burst), old[0] + (now - old[1]) * rate)
        verdict = Verdict(True) if tokens >= cost else Verdict(False, (cost - tokens) / rate)
        if verdict.allowed:
            tokens -= cost
        if len(self._buckets) >= self._max_keys:
            self._evict(now)
        self._buckets[key] = (tokens, now, rate, burst)  # re-inserted: most recent last
        return verdict

    def _evict(self, now: float) -> None:
        # Forget the quarter of buckets closest to full: they hold back the least. A bucket that
        # is holding someone back (near empty) is the last to go, so a flood of new keys cannot
        # free a limited one.
        def fullness(item: tuple[str, tuple[float, float, float, int]]) -> float:
            tokens, at, rate, burst = item[1]
            return min(1.0, (tokens + (now - at) * rate) / burst)

        ranked = sorted(self._buckets.items(), key=fullness, reverse=True)
        for key, _ in ranked[: max(1, self._max_keys // 4)]:
            del self._buckets[key]


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

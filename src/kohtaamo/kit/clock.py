"""UTC-aware time. Every timestamp in Kohtaamo is aware and in UTC.

`utcnow()` reads one process-wide source, normally the system clock. The simulator replaces it
(`travel`) to play a month of history through the real code paths in minutes; nothing else may.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_source: Callable[[], float] = time.time  # epoch seconds


def utcnow() -> datetime:
    return datetime.fromtimestamp(_source(), UTC)


def now_seconds() -> float:
    return _source()


@contextmanager
def travel(source: Callable[[], float]) -> Iterator[None]:
    """Run with `source` (epoch seconds) as the clock of `utcnow()`, then restore the system's."""
    global _source
    before = _source
    _source = source
    try:
        yield
    finally:
        _source = before


def from_epoch_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def as_utc(value: datetime) -> datetime:
    """Aware datetime in UTC; a naive one is taken to be UTC already (as SQLite returns them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

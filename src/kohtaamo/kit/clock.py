"""UTC-aware time. Every timestamp in Kohtaamo is aware and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_epoch_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def as_utc(value: datetime) -> datetime:
    """Aware datetime in UTC; a naive one is taken to be UTC already (as SQLite returns them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

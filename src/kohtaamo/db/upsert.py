"""INSERT ... ON CONFLICT for the two supported dialects, behind one call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(dialect_name: str, table: Table | Any) -> Any:
    """The dialect's Insert construct, which has on_conflict_do_nothing / _do_update."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect_name!r}")

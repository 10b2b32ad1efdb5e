"""Alembic, driven from code: `kohtaamo migrate` upgrades; the app refuses an unmigrated database."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPT_LOCATION = "kohtaamo:migrations"


class NotMigrated(RuntimeError):
    pass


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking; runs its own event loop inside alembic's env.py."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def ensure_migrated(engine: AsyncEngine, database_url: str) -> None:
    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    head = head_revision(database_url)
    if current != head:
        raise NotMigrated(
            f"the database is at revision {current or 'none (empty)'}, the code needs {head}: "
            "run `kohtaamo migrate` first"
        )

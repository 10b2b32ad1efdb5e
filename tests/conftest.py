"""Shared fixtures. Every test that takes `app` or `client` runs twice: on a real SQLite file and
on a real PostgreSQL database, migrated by the same Alembic scripts the product uses."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics.archive import Archive
from kohtaamo.app import create_app
from kohtaamo.config import Settings, load_settings
from kohtaamo.db.migrate import upgrade
from tests import services

UNFILLED = Path(tempfile.mkdtemp(prefix="kohtaamo-unfilled-"))
TABLES = (
    "commerce_integrations",
    "order_refunds",
    "order_lines",
    "orders",
    "conversation_forwards",
    "messages",
    "conversations",
    "canned_replies",
    "chat_agents",
    "teams",
    "exposures",
    "rules",
    "customers",
    "events",
    "visits",
    "visitors",
    "api_keys",
    "auth_sessions",
    "memberships",
    "workspaces",
    "users",
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    services.require_postgres()
    import asyncio

    name = f"kohtaamo_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=services.PG_HOST,
            port=services.PG_PORT,
            user=services.PG_USER,
            database=services.PG_DB,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://{services.PG_USER}@{services.PG_HOST}:{services.PG_PORT}/{name}"
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "kohtaamo.db"
        shutil.copy(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    import asyncio

    async def truncate() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(truncate())
    return url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "secret_key": "test-secret-key-that-is-long-enough-123",
        "public_base_url": "http://testserver",
        "analytics_in_server": False,  # tests that need the archive open their own
        # Never published to: no snapshot left in ./var by a local server is ever read here.
        "analytics_path": str(UNFILLED / "analytics.duckdb"),
        # No idle sweep on the real clock: tests that need one start it (tests/test_chat_idle.py).
        "chat_idle_sweep_seconds": 0.0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def archive(app: FastAPI, tmp_path: Path) -> AsyncIterator[Archive]:
    """An empty analytics archive opened in this process as the app's; the test fills it."""
    a = Archive(str(tmp_path / "reports.duckdb"))
    app.state.archive = a
    try:
        yield a
    finally:
        app.state.archive = None
        a.close()

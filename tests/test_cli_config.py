"""Settings that fail early and name the variable; migrations that match the models; the CLI."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kohtaamo import models  # noqa: F401  (registers every table on Base.metadata)
from kohtaamo.app import create_app
from kohtaamo.config import ConfigError, load_settings
from kohtaamo.db.base import Base
from kohtaamo.db.engine import make_engine
from kohtaamo.db.migrate import NotMigrated, upgrade
from tests import factory, services
from tests.conftest import make_settings

KOHTAAMO = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "kohtaamo"
PASSWORD = "cli-password-long-enough"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: start every test from none of ours."""
    for name in list(os.environ):
        if name.startswith("KOHTAAMO_") and not name.startswith("KOHTAAMO_TEST_"):
            monkeypatch.delenv(name)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=services.PG_HOST, port=services.PG_PORT, user=services.PG_USER, database=services.PG_DB
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists but has never been migrated."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
        return
    services.require_postgres()
    name = f"kohtaamo_cli_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{services.PG_USER}@{services.PG_HOST}:{services.PG_PORT}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- settings -------------------------------------------------------------------------------


def test_unknown_database_driver_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="KOHTAAMO_DATABASE_URL"):
        load_settings(database_url="mysql://x")


def test_production_needs_a_long_secret() -> None:
    url = "sqlite+aiosqlite:///./x.db"
    with pytest.raises(ConfigError, match="KOHTAAMO_SECRET_KEY"):
        load_settings(database_url=url, environment="production")
    with pytest.raises(ConfigError, match="KOHTAAMO_SECRET_KEY"):
        load_settings(database_url=url, environment="production", secret_key="s" * 31)
    ok = load_settings(database_url=url, environment="production", secret_key="s" * 32)
    assert ok.secret_key == "s" * 32


def test_development_gets_a_random_secret() -> None:
    a = load_settings(database_url="sqlite+aiosqlite:///./x.db")
    b = load_settings(database_url="sqlite+aiosqlite:///./x.db")
    assert len(a.secret_key) >= 32
    assert a.secret_key != b.secret_key


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/k", "postgresql+asyncpg://u:p@db:5432/k"),
        ("postgresql+asyncpg://u@db/k", "postgresql+asyncpg://u@db/k"),
        ("sqlite:///./var/k.db", "sqlite+aiosqlite:///./var/k.db"),
    ],
)
def test_database_url_is_normalised(given: str, expected: str) -> None:
    assert load_settings(database_url=given).database_url == expected


def test_bad_value_from_the_environment_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOHTAAMO_TRACK_RATE_PER_SITE", "-1")
    with pytest.raises(ConfigError, match="KOHTAAMO_TRACK_RATE_PER_SITE"):
        load_settings(database_url="sqlite+aiosqlite:///./x.db")
    monkeypatch.setenv("KOHTAAMO_TRACK_RATE_PER_SITE", "25.5")
    monkeypatch.setenv("KOHTAAMO_REDIS_URL", "http://redis")
    with pytest.raises(ConfigError) as info:
        load_settings(database_url="sqlite+aiosqlite:///./x.db")
    assert "KOHTAAMO_REDIS_URL" in str(info.value)
    assert "KOHTAAMO_TRACK_RATE_PER_SITE" not in str(info.value)
    monkeypatch.delenv("KOHTAAMO_REDIS_URL")
    assert load_settings(database_url="sqlite+aiosqlite:///./x.db").track_rate_per_site == 25.5


# --- migrations -----------------------------------------------------------------------------


def _files_open(path: str) -> int:
    target = os.path.realpath(path)
    return sum(1 for fd in Path("/proc/self/fd").iterdir() if os.path.realpath(fd) == target)


async def _open_connections(url: str) -> int:
    """Connections this process holds to the database (the test's own probe excluded)."""
    if url.startswith("sqlite"):
        return _files_open(url.split(":///", 1)[1])
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def test_app_refuses_an_unmigrated_database(empty_db: str) -> None:
    app = create_app(make_settings(empty_db))
    with pytest.raises(NotMigrated, match="run `kohtaamo migrate`") as info:
        async with app.router.lifespan_context(app):
            pass
    assert "none (empty)" in str(info.value)
    # A failed start must not leave its connection pool open behind it.
    assert await _open_connections(empty_db) == 0


async def _differences(url: str) -> list[Any]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


def test_migrations_match_the_models(empty_db: str) -> None:
    # The comparison sees real tables: against the empty database it reports all of them missing.
    missing = {d[1].name for d in asyncio.run(_differences(empty_db)) if d[0] == "add_table"}
    assert missing == set(Base.metadata.tables)
    assert {"users", "workspaces", "api_keys", "events"} <= missing
    upgrade(empty_db)
    assert asyncio.run(_differences(empty_db)) == []
    upgrade(empty_db)  # upgrading again is a no-op, not an error
    assert asyncio.run(_differences(empty_db)) == []


# --- the command line -----------------------------------------------------------------------


def _cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KOHTAAMO_")}
    return subprocess.run(
        [str(KOHTAAMO), *args],
        env={**clean, "KOHTAAMO_DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_serve_refuses_an_unmigrated_database(empty_db: str) -> None:
    r = _cli(empty_db, "serve", "--port", "0")
    assert r.returncode != 0, r.stdout
    assert "kohtaamo migrate" in r.stderr


def test_bad_setting_stops_the_cli(tmp_path: Path) -> None:
    r = _cli("mysql://x", "migrate")
    assert r.returncode != 0
    assert "KOHTAAMO_DATABASE_URL" in r.stderr
    assert "Traceback" not in r.stderr


async def _check_workspace(url: str, site_key: str, secret: str) -> None:
    app = create_app(make_settings(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.post(
                "/api/v1/auth/token", json={"email": "owner@example.fi", "password": PASSWORD}
            )
            assert r.status_code == 201, r.text
            me = await c.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
            )
            assert [(m["workspace_name"], m["role"]) for m in me.json()["memberships"]] == [
                ("Kukka & Co", "owner")
            ]
            body = {
                "visitor_id": "v",
                "visit_id": "s",
                "events": [factory.page("https://kukka.example/")],
            }
            r = await c.post(
                "/api/v1/track",
                json={**body, "site_key": site_key},
                headers={"Origin": "https://kukka.example"},
            )
            assert r.status_code == 200, r.text
            body["events"] = [factory.event("identify", {"customer_id": "c-1"})]
            r = await c.post(
                "/api/v1/track", json=body, headers={"Authorization": f"Bearer {secret}"}
            )
            assert r.status_code == 200, r.text


def test_cli_sets_up_a_shop(empty_db: str) -> None:
    # Operators paste plain postgresql:// URLs; the CLI must accept them.
    url = empty_db.replace("postgresql+asyncpg://", "postgresql://")
    r = _cli(url, "migrate")
    assert r.returncode == 0, r.stderr
    assert "database is at revision" in r.stdout

    r = _cli(
        url,
        "create-user",
        "--email",
        "Owner@Example.fi",
        "--name",
        "Olli",
        KOHTAAMO_NEW_USER_PASSWORD=PASSWORD,
    )
    assert r.returncode == 0, r.stderr
    assert "<owner@example.fi> created" in r.stdout
    r = _cli(
        url,
        "create-user",
        "--email",
        "owner@example.fi",
        "--name",
        "Again",
        KOHTAAMO_NEW_USER_PASSWORD=PASSWORD,
    )
    assert r.returncode != 0
    assert "--email" in r.stderr

    r = _cli(url, "create-workspace", "--name", "X", "--owner", "nobody@example.fi")
    assert r.returncode != 0
    assert "--owner" in r.stderr

    r = _cli(
        url,
        "create-workspace",
        "--name",
        "Kukka & Co",
        "--owner",
        "owner@example.fi",
        "--origin",
        "https://kukka.example",
    )
    assert r.returncode == 0, r.stderr
    site_key = re.search(r"\b(ks_[A-Za-z0-9_-]+)", r.stdout)
    secret = re.search(r"\b(ksk_[A-Za-z0-9_-]+)", r.stdout)
    assert site_key is not None, r.stdout
    assert secret is not None, r.stdout
    # The keys printed are the real ones.
    asyncio.run(_check_workspace(empty_db, site_key.group(1), secret.group(1)))


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["create-workspace", "--name", "X", "--currency", "eur"], "--currency"),
        (["create-workspace", "--name", "X", "--timezone", "Nowhere/City"], "--timezone"),
        (["create-workspace", "--name", "X", "--origin", "ftp://x"], "--allowed-origins"),
        (
            ["create-user", "--email", "a@example.fi", "--name", "A", "--password", "short"],
            "--password",
        ),
    ],
)
def test_cli_names_the_bad_option(tmp_path: Path, args: list[str], option: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    r = _cli(url, *args)
    assert r.returncode != 0, r.stdout
    assert option in r.stderr
    assert "Traceback" not in r.stderr
    assert "ks_" not in r.stdout


def test_short_password_from_the_environment_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    r = _cli(
        url,
        "create-user",
        "--email",
        "a@example.fi",
        "--name",
        "A",
        KOHTAAMO_NEW_USER_PASSWORD="short",
    )
    assert r.returncode != 0
    assert "--password" in r.stderr
    r = _cli(
        url,
        "create-user",
        "--email",
        "a@example.fi",
        "--name",
        "A",
        KOHTAAMO_NEW_USER_PASSWORD=PASSWORD,
    )
    assert r.returncode == 0, r.stderr  # the failed attempt left nothing behind


def test_serve_refuses_several_workers_without_redis(empty_db: str) -> None:
    r = _cli(empty_db, "serve", "--port", "0", "--workers", "2")
    assert r.returncode != 0
    assert "KOHTAAMO_REDIS_URL" in r.stderr
    assert "Traceback" not in r.stderr

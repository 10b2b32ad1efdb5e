"""`kohtaamo`: serve, migrate, create workspaces and users, run the demo."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kohtaamo.config import ConfigError, Settings, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
    from kohtaamo.db.migrate import NotMigrated, ensure_migrated

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        try:
            await ensure_migrated(engine, settings.database_url)
        except NotMigrated as exc:
            raise click.ClickException(str(exc)) from None
        async with transaction(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


@click.group()
def main() -> None:
    """Kohtaamo: proactive chat, measured by the orders it earns."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema to the code's version."""
    from kohtaamo.db.migrate import head_revision, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo(f"database is at revision {head_revision(settings.database_url)}")


def _check_migrated(settings: Settings) -> None:
    async def noop(_: Any) -> None:
        return None

    asyncio.run(_with_db(settings, noop))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and API."""

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        # Live visit state, rule caps and agent presence live in each process without Redis:
        # several workers would each see part of a visit and could fire a rule twice.
        raise click.ClickException(
            "KOHTAAMO_REDIS_URL: --workers above 1 needs Redis, which the workers share"
        )
    if settings.is_sqlite and workers > 1:
        click.echo(
            "note: several workers on SQLite share one writer; use PostgreSQL in production",
            err=True,
        )
    _check_migrated(settings)
    _run_server(host, port, workers=workers, log_level=settings.log_level)


def _run_server(host: str, port: int, *, workers: int = 1, log_level: str = "INFO") -> None:
    import uvicorn

    from kohtaamo.kit import logs

    logs.configure(log_level)
    uvicorn.run(
        "kohtaamo.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # our JSON logging, configured above
        access_log=False,  # requests are counted in /metrics; KOHTAAMO_LOG_REQUESTS logs them
        proxy_headers=True,
        server_header=False,
        ws_max_size=65_536,  # a chat frame is at most 16k characters; refuse megabyte frames early
        # Chat frames are small: compressing each one costs more CPU than the bytes it saves.
        ws_per_message_deflate=False,
    )


@main.command()
@click.option(
    "--once", is_flag=True, help="one pass, then exit (else every KOHTAAMO_ANALYTICS_FILL_SECONDS)"
)
def archive(once: bool) -> None:
    """Fill the analytics archive (DuckDB) from the primary database and publish its snapshot.

    Servers fill it themselves by default; this takes turns with them under the same lock, and
    is the filler when they run with KOHTAAMO_ANALYTICS_IN_SERVER=false (ADR 0015)."""
    from kohtaamo.analytics import filler, snapshots
    from kohtaamo.db.engine import make_engine, make_sessionmaker

    settings = _settings()
    _check_migrated(settings)
    plan = filler.plan_of(settings)

    async def run() -> None:
        engine = make_engine(settings.database_url, pool_size=2)
        try:
            maker = make_sessionmaker(engine)
            if not once:
                await filler.keep_filling(maker, plan, _sleep)
                return
            lock = snapshots.FillLock(plan.path)
            if not lock.try_acquire():
                click.echo("waiting for the archive pass running in another process …", err=True)
                if not await asyncio.to_thread(lock.acquire, timeout=ONCE_WAIT):
                    raise click.ClickException(
                        f"another process has held {lock.path} for {ONCE_WAIT:.0f} s; "
                        "is a pass stuck there?"
                    )
            try:
                done = await filler.run_pass(maker, plan, lock, force=True)
            finally:
                lock.release()
            click.echo(" ".join(f"{k}={v}" for k, v in done.counts.items()))
            if done.published:
                click.echo(f"published snapshot {done.published} for the reports")
            else:
                click.echo(f"nothing new; the reports read snapshot {snapshots.current(plan.path)}")
        finally:
            await engine.dispose()

    asyncio.run(run())


ONCE_WAIT = 600.0  # seconds: the first pass over a large history takes minutes


async def _sleep(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return False


@main.command("import-rees46")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="the Kohtaamo server"
)
@click.option(
    "--api-key", envvar="KOHTAAMO_API_KEY", required=True, help="the workspace's secret key"
)
def import_rees46(path: str, url: str, api_key: str) -> None:
    """Send a REES46 e-commerce log (view/cart/purchase CSV) through /api/v1/track."""
    import json
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from kohtaamo.tracking.imports import batches, rees46_events

    sent = 0
    for body in batches(rees46_events(Path(path))):
        data = json.dumps(body).encode()
        for attempt in range(6):
            req = urllib.request.Request(  # noqa: S310 - the operator's own server
                url.rstrip("/") + "/api/v1/track",
                data=data,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30):  # noqa: S310
                    break
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 503) or attempt == 5:
                    raise click.ClickException(f"{exc.code}: {exc.read().decode()[:300]}") from None
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        sent += len(body["events"])
    click.echo(f"sent {sent} events")


@main.command("create-workspace")
@click.option("--name", required=True)
@click.option("--owner", "owner_email", default=None, help="email of an existing user")
@click.option("--origin", "origins", multiple=True, help="allowed widget origin (repeatable)")
@click.option("--locale", type=click.Choice(["fi", "en"]), default="fi", show_default=True)
@click.option("--currency", default="EUR", show_default=True)
@click.option("--timezone", default="Europe/Helsinki", show_default=True)
def create_workspace(
    name: str,
    owner_email: str | None,
    origins: tuple[str, ...],
    locale: str,
    currency: str,
    timezone: str,
) -> None:
    """Create a workspace; prints its site key and a secret API key (shown once)."""
    from pydantic import ValidationError

    from kohtaamo.auth import service as auth
    from kohtaamo.shops import service
    from kohtaamo.shops.schemas import WorkspaceCreate

    try:
        data = WorkspaceCreate(
            name=name,
            allowed_origins=list(origins),
            locale=locale,
            currency=currency,
            timezone=timezone,
        )
    except ValidationError as exc:
        e = exc.errors()[0]
        raise click.ClickException(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}") from None

    async def work(session: Any) -> tuple[Any, str]:
        owner = None
        if owner_email:
            owner = await auth.get_user_by_email(session, owner_email)
            if owner is None:
                raise click.ClickException(f"--owner: no user with email {owner_email}")
        ws = await service.create_workspace(session, data=data, owner=owner)
        _, secret = await service.create_api_key(
            session, workspace_id=ws.id, name="default", created_by=None
        )
        return ws, secret

    ws, secret = asyncio.run(_with_db(_settings(), work))
    click.echo(f"workspace id:   {ws.id}")
    click.echo(f"site key:       {ws.site_key}")
    click.echo(f"secret API key: {secret}   (shown once; store it now)")


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="KOHTAAMO_NEW_USER_PASSWORD",
)
@click.option("--locale", type=click.Choice(["fi", "en"]), default="fi", show_default=True)
@click.option("--workspace", "workspace_id", type=int, default=None, help="add to this workspace")
@click.option(
    "--role", type=click.Choice(["owner", "admin", "agent"]), default="agent", show_default=True
)
def create_user(
    email: str, name: str, password: str, locale: str, workspace_id: int | None, role: str
) -> None:
    """Create a staff user, optionally as a member of a workspace."""
    from kohtaamo.auth import service as auth
    from kohtaamo.auth.models import Role
    from kohtaamo.kit.errors import AppError
    from kohtaamo.shops import service

    async def work(session: Any) -> Any:
        try:
            user = await auth.create_user(
                session, email=email, name=name, password=password, locale=locale
            )
            if workspace_id is not None:
                await service.get_workspace(session, workspace_id)
                await auth.add_member(
                    session, workspace_id=workspace_id, user=user, role=Role(role)
                )
        except AppError as exc:
            raise click.ClickException(f"--{exc.field or 'value'}: {exc.message}") from None
        return user

    user = asyncio.run(_with_db(_settings(), work))
    click.echo(f"user {user.id} <{user.email}> created")


@main.command()
@click.option("--visitors", default=1000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 365))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--workspace", "workspace_id", required=True, type=click.IntRange(1), help="its id")
def simulate(visitors: int, days: int, seed: int, workspace_id: int) -> None:
    """Play realistic traffic into a workspace through the product's own API and chat code:
    VISITORS over the last DAYS (journeys, problem moments, carts, chats, orders, ratings)."""
    from kohtaamo import demo as demo_mod
    from kohtaamo.app import create_app
    from kohtaamo.simulate.history import history

    settings = _settings()
    try:
        summary = asyncio.run(
            history(
                create_app,
                settings,
                workspace_id=workspace_id,
                visitors=visitors,
                days=days,
                seed=seed,
                styles=demo_mod.STYLES,  # the demo's agents work as described; others "helper"
                progress=lambda line: click.echo(f"  … {line}", err=True),
            )
        )
    except LookupError as exc:
        raise click.ClickException(f"--workspace: {exc}") from None
    click.echo(summary.line())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--db", "db_path", default="./var/demo.db", show_default=True, help="the demo's own SQLite file"
)
@click.option(
    "--history",
    "history_visitors",
    default=3400,  # simulate.history.DEMO_VISITORS (not imported here: the CLI starts fast)
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="visitors in the simulated month played into a new demo (0: none)",
)
@click.option(
    "--trickle/--no-trickle",
    default=True,
    show_default=True,
    help="keep live simulated visitors coming, so the console shows new chats",
)
def demo(host: str, port: int, db_path: str, history_visitors: int, trickle: bool) -> None:
    """Run the demo: its own SQLite file, a demo workspace and logins, the server."""
    from kohtaamo import demo as demo_mod

    if os.environ.get("KOHTAAMO_ENVIRONMENT") == "production":
        raise click.ClickException("KOHTAAMO_ENVIRONMENT: the demo does not run in production")
    # Always the demo's own file: demo logins with a published password must never be seeded
    # into whatever database KOHTAAMO_DATABASE_URL points at.
    os.environ["KOHTAAMO_DATABASE_URL"] = f"sqlite+aiosqlite:///{db_path}"
    os.environ.pop("KOHTAAMO_REDIS_URL", None)
    os.environ["KOHTAAMO_PUBLIC_BASE_URL"] = f"http://{host}:{port}"
    os.environ["KOHTAAMO_ANALYTICS_PATH"] = str(Path(db_path).with_name("demo-analytics.duckdb"))
    settings = _settings()
    from kohtaamo.db.migrate import upgrade

    upgrade(settings.database_url)
    info = asyncio.run(_with_db(settings, lambda s: demo_mod.seed(s, settings)))
    if not info.has_history and history_visitors:
        from kohtaamo.app import create_app
        from kohtaamo.simulate.history import DEMO_REPLY, history

        click.echo(f"  Simulating a month of the demo shop ({history_visitors} visitors) …")
        summary = asyncio.run(
            history(
                create_app,
                settings,
                workspace_id=info.workspace_id,
                visitors=history_visitors,
                days=30,
                seed=1,
                styles=demo_mod.STYLES,
                reply=DEMO_REPLY,
                progress=lambda line: click.echo(f"    … {line}"),
            )
        )
        click.echo(f"  {summary.line()}")
    click.echo("")
    click.echo(f"  Kohtaamo demo is running at {settings.public_base_url}/login")
    for email, password, role in info.logins:
        click.echo(f"    {role:<6} {email}  /  {password}")
    click.echo(f"  Demo workspace site key: {info.site_key}")
    click.echo(f"  The demo shop (the widget, live): {settings.public_base_url}/demo-shop")
    if trickle:
        click.echo("  Simulated visitors keep arriving; some open chats for you to answer.")
        _start_trickle(settings.public_base_url, info.site_key)
    click.echo("  Stop with Ctrl+C.")
    click.echo("")
    sys.stdout.flush()
    _run_server(host, port, log_level="WARNING")


def _start_trickle(base_url: str, site_key: str) -> None:
    import threading

    from kohtaamo.simulate.live import Trickle

    def run() -> None:
        asyncio.run(Trickle(base_url, site_key).run())

    threading.Thread(target=run, name="kohtaamo-demo-visitors", daemon=True).start()

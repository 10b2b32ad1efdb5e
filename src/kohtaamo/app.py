"""The composition root: builds the runtime parts once and mounts every domain's routes."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError, IntegrityError

from kohtaamo import ops
from kohtaamo.analytics import filler as archive_filler
from kohtaamo.analytics import pages as analytics_pages
from kohtaamo.analytics import router as analytics_router
from kohtaamo.analytics.archive import Snapshots
from kohtaamo.auth import pages as auth_pages
from kohtaamo.auth import router as auth_router
from kohtaamo.bus import Bus
from kohtaamo.chat import consoles as chat_consoles
from kohtaamo.chat import idle as chat_idle
from kohtaamo.chat import pages as chat_pages
from kohtaamo.chat import router as chat_router
from kohtaamo.chat import sockets as chat_sockets
from kohtaamo.chat.raw import chat_store
from kohtaamo.chat.switchboard import Switchboard
from kohtaamo.commerce import router as commerce_router
from kohtaamo.commerce import service as commerce_service
from kohtaamo.commerce import webhooks as commerce_webhooks
from kohtaamo.config import Settings, get_settings
from kohtaamo.contacts.service import FactsCache
from kohtaamo.db.engine import make_engine, make_sessionmaker
from kohtaamo.db.migrate import ensure_migrated
from kohtaamo.demoshop import pages as demo_shop
from kohtaamo.kit.errors import AppError
from kohtaamo.kit.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from kohtaamo.realtime.hub import Hub, MemoryHub, RedisHub
from kohtaamo.realtime.presence import MemoryPresence, Presence, RedisPresence
from kohtaamo.rules import pages as rules_pages
from kohtaamo.rules import router as rules_router
from kohtaamo.rules.book import RuleBook, RulesChanged
from kohtaamo.rules.engine import Engine
from kohtaamo.rules.marks import Marks, MemoryMarks, RedisMarks
from kohtaamo.rules.raw import raw_store
from kohtaamo.shops import pages as shop_pages
from kohtaamo.shops import router as shops_router
from kohtaamo.shops.directory import SiteDirectory
from kohtaamo.shops.service import WorkspaceChanged
from kohtaamo.tracking import router as tracking_router
from kohtaamo.tracking.endpoint import TrackEndpoint
from kohtaamo.tracking.ingest import Ingestor
from kohtaamo.tracking.live import LiveStore, MemoryLiveStore, RedisLiveStore
from kohtaamo.tracking.service import PurchaseSeen, Tracker
from kohtaamo.tracking.writer import make_writer
from kohtaamo.web import assets, templates

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        redis: Redis | None = None
        limiter: RateLimiter = MemoryRateLimiter()
        live: LiveStore = MemoryLiveStore(ttl=settings.live_visit_ttl_seconds)
        presence: Presence = MemoryPresence()
        marks: Marks = MemoryMarks(ttl=settings.live_visit_ttl_seconds)
        hub: Hub = MemoryHub()
        try:
            await ensure_migrated(engine, settings.database_url)  # refuse an unmigrated database
            if settings.redis_url:
                redis = Redis.from_url(settings.redis_url)
                await redis.ping()  # type: ignore[misc]  # fail at start, not on the first event
                limiter = RedisRateLimiter(redis)
                live = RedisLiveStore(redis, ttl=settings.live_visit_ttl_seconds)
                presence = RedisPresence(redis)
                marks = RedisMarks(redis, ttl=settings.live_visit_ttl_seconds)
                hub = RedisHub(redis)
        except BaseException:
            if redis is not None:
                await redis.aclose()
            await engine.dispose()
            raise
        maker = make_sessionmaker(engine)
        bus = Bus()
        directory = SiteDirectory(maker)
        bus.subscribe(WorkspaceChanged, directory.on_changed)
        writer = make_writer(settings.database_url)
        try:
            await writer.check()
        except BaseException:
            await writer.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()
            raise
        ingestor = Ingestor(writer)
        ingestor.start()
        book = RuleBook(maker, ttl=settings.rules_cache_seconds)
        raw = raw_store(writer)
        bus.subscribe(RulesChanged, book.on_changed)
        rules_engine = Engine(
            maker,
            book=book,
            marks=marks,
            presence=presence,
            facts=FactsCache(maker, load=raw.facts if raw else None),
            default_max_load=settings.rules_default_max_load,
            raw=raw,
            chat_open=chat_idle.going_on(maker),
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = maker
        app.state.bus = bus
        app.state.redis = redis
        app.state.limiter = limiter
        app.state.directory = directory
        app.state.presence = presence
        app.state.rules = rules_engine
        app.state.tracker = Tracker(
            settings=settings,
            ingestor=ingestor,
            live=live,
            limiter=limiter,
            decider=rules_engine,
            bus=bus,
        )
        bus.subscribe(PurchaseSeen, commerce_service.widget_purchases(maker))
        app.state.chat = Switchboard(
            settings=settings,
            maker=maker,
            bus=bus,
            hub=hub,
            presence=presence,
            limiter=limiter,
            live=live,
            directory=directory,
            raw=chat_store(writer),
        )
        app.state.chat.wire()
        # Conversations nobody closed are closed after the workspace's idle limit (chat.idle).
        sweeper = chat_idle.Sweeper(app.state.chat, settings.chat_idle_sweep_seconds)
        sweeper.start()
        # Reports read the newest published snapshot; this process also takes its turns at
        # filling the live file unless `kohtaamo archive` does that (ADR 0015).
        app.state.archive = Snapshots(settings.analytics_path)
        filler: archive_filler.Filler | None = None
        if settings.analytics_in_server:
            filler = archive_filler.Filler(settings.database_url, archive_filler.plan_of(settings))
            filler.start()
        ops.watch_gc()
        # What start-up built lives as long as the process: keep it out of every later full
        # collection (fewer, shorter pauses with thousands of sockets open).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await sweeper.stop()
            if filler is not None:
                await asyncio.to_thread(filler.stop)
            if app.state.archive is not None:  # tests may swap in their own
                app.state.archive.close()
            await ingestor.stop()
            await hub.close()
            if app.state.chat.raw is not None:
                await app.state.chat.raw.close()
            await live.close()
            await marks.close()
            await presence.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Kohtaamo",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    # Order matters: the last added is outermost. Metrics wrap the lean /track endpoint.
    app.add_middleware(TrackEndpoint)
    app.add_middleware(ops.MetricsMiddleware, log_requests=settings.log_requests)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    for module in (ops, auth_router, shops_router, tracking_router, rules_router, chat_router):
        app.include_router(module.router)
    app.include_router(chat_router.public)
    app.include_router(chat_sockets.router)
    app.include_router(chat_consoles.router)
    app.include_router(commerce_router.router)
    app.include_router(commerce_router.staff)
    app.include_router(commerce_webhooks.router)
    app.include_router(commerce_webhooks.staff)
    app.include_router(analytics_router.router)
    app.include_router(assets.router)
    for pages in (auth_pages, shop_pages, rules_pages, chat_pages, analytics_pages, demo_shop):
        app.include_router(pages.router)
    templates.mount_static(app)
    return app


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def _integrity_error(_request: Request, _exc: Exception) -> JSONResponse:
    # Two requests racing for the same unique value (e.g. adding one member twice at once).
    body = {"detail": {"code": "conflict", "message": "this conflicts with data saved just now"}}
    return JSONResponse(body, status_code=409)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    text = str(getattr(exc, "orig", exc))
    if "0x00" in text or "\\u0000" in text or "invalid byte sequence" in text:
        # PostgreSQL refuses NUL characters in text; SQLite would store them. Same answer on both.
        body = {
            "detail": {
                "code": "invalid",
                "field": "body",
                "message": "text must not contain NUL characters (\\u0000)",
            }
        }
        return JSONResponse(body, status_code=422)
    log.error("database error", extra={"path": request.url.path, "error": type(exc).__name__})
    body = {"detail": {"code": "unavailable", "message": "the database failed; try again"}}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    body = {
        "detail": {
            "code": "invalid",
            "message": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "errors": errors,
        }
    }
    return JSONResponse(body, status_code=422)

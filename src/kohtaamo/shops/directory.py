"""Site-key and API-key lookups for the hot path, cached briefly in each worker.

A change in this worker drops the entry at once (WorkspaceChanged); other workers see it within
`ttl` seconds. Misses are cached too, so a flood of unknown keys does not reach the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.tokens import token_hash
from kohtaamo.shops.models import ApiKey, Workspace
from kohtaamo.shops.service import WorkspaceChanged


@dataclass(frozen=True, slots=True)
class Site:
    workspace_id: int
    allowed_origins: tuple[str, ...]
    timezone: str
    locale: str
    currency: str
    # Set when identify must be signed (HMAC-SHA256 of the customer id, hex).
    identity_secret: str | None = None
    attribution_days: int = 7

    def allows_origin(self, origin: str) -> bool:
        origin = origin.lower().rstrip("/")
        o_scheme, _, o_hostport = origin.partition("://")
        for allowed in self.allowed_origins:
            if allowed == origin:
                return True
            scheme, _, rest = allowed.partition("://")
            # "https://*.example.com" admits any subdomain, same scheme and port.
            if rest.startswith("*.") and scheme == o_scheme and o_hostport.endswith(rest[1:]):
                return True
        return False


def site_of(ws: Workspace) -> Site:
    return Site(
        ws.id,
        tuple(ws.allowed_origins or ()),
        ws.timezone,
        ws.locale,
        ws.currency,
        ws.identity_secret,
        ws.attribution_days,
    )


class SiteDirectory:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        ttl: float = 10.0,
        max_entries: int = 50_000,
    ) -> None:
        self._maker = maker
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, tuple[float, Site | None]] = {}

    def _get(self, key: str) -> tuple[bool, Site | None]:
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def _put(self, key: str, site: Site | None) -> None:
        if len(self._cache) >= self._max:
            self._cache.clear()
        # Misses live shorter, so a key created a moment ago starts working quickly.
        ttl = self._ttl if site is not None else min(self._ttl, 2.0)
        self._cache[key] = (time.monotonic() + ttl, site)

    async def by_site_key(self, site_key: str) -> Site | None:
        found, site = self._get("s:" + site_key)
        if found:
            return site
        async with self._maker() as session:
            ws = (
                await session.execute(select(Workspace).where(Workspace.site_key == site_key))
            ).scalar_one_or_none()
        site = site_of(ws) if ws else None
        self._put("s:" + site_key, site)
        return site

    async def by_api_key(self, secret: str) -> Site | None:
        digest = token_hash(secret)
        found, site = self._get("k:" + digest)
        if found:
            return site
        async with self._maker() as session:
            row = (
                await session.execute(
                    select(ApiKey, Workspace)
                    .join(Workspace, Workspace.id == ApiKey.workspace_id)
                    .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
                )
            ).one_or_none()
            if row is not None:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == row[0].id).values(last_used_at=utcnow())
                )
                await session.commit()
        site = site_of(row[1]) if row else None
        self._put("k:" + digest, site)
        return site

    async def on_changed(self, event: WorkspaceChanged) -> None:
        self._cache = {
            k: v
            for k, v in self._cache.items()
            if v[1] is None or v[1].workspace_id != event.workspace_id
        }

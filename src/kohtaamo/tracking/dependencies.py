"""Who is sending events: a browser with the public site key, or the shop's server with a secret key."""

from __future__ import annotations

from fastapi import Request

from kohtaamo.kit.errors import Forbidden, Unauthorized
from kohtaamo.shops.directory import Site, SiteDirectory

# One message for unknown, malformed and rotated keys alike: the answer reveals no key's existence.
BAD_SITE = "the site key is not valid"


async def resolve_sender(request: Request, site_key: str | None) -> tuple[Site, str]:
    directory: SiteDirectory = request.app.state.directory
    authz = request.headers.get("authorization")
    if authz:
        scheme, _, secret = authz.partition(" ")
        if scheme.lower() != "bearer" or not secret.startswith("ksk_"):
            raise Unauthorized("the Authorization header must be 'Bearer <secret API key>'")
        site = await directory.by_api_key(secret.strip())
        if site is None:
            raise Unauthorized("the API key is not valid or was revoked")
        return site, "server"
    if not site_key:
        raise Unauthorized(
            "site_key is required (or a secret API key for server calls)", field="site_key"
        )
    site = await directory.by_site_key(site_key)
    if site is None:
        raise Unauthorized(BAD_SITE, field="site_key")
    origin = request.headers.get("origin")
    if origin and origin != "null" and not site.allows_origin(origin):
        raise Forbidden(
            f"origin {origin} is not among this workspace's allowed origins", field="origin"
        )
    return site, "widget"

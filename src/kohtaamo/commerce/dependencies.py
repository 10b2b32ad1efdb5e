"""The shop's server calls with a secret API key (`Authorization: Bearer ksk_…`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kohtaamo.kit.errors import Unauthorized
from kohtaamo.shops.directory import Site, SiteDirectory


async def server_site(request: Request) -> Site:
    authz = request.headers.get("authorization", "")
    scheme, _, secret = authz.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip().startswith("ksk_"):
        raise Unauthorized(
            "send the secret API key: 'Authorization: Bearer ksk_…'", field="authorization"
        )
    directory: SiteDirectory = request.app.state.directory
    site = await directory.by_api_key(secret.strip())
    if site is None:
        raise Unauthorized("the API key is not valid or was revoked", field="authorization")
    return site


ServerSite = Annotated[Site, Depends(server_site)]

"""Building test data through the product's own services and API, never by writing rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.db.engine import transaction
from kohtaamo.kit.clock import utcnow

PASSWORD = "correct-horse-battery"
ORIGIN = "https://shop.example"


@dataclass
class Staff:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Shop:
    id: int
    site_key: str
    api_key: str
    owner: Staff


async def user(
    app: FastAPI,
    client: httpx.AsyncClient,
    email: str,
    *,
    workspace_id: int | None = None,
    role: str = "agent",
) -> Staff:
    async with transaction(app.state.sessionmaker) as s:
        u = await auth.create_user(
            s, email=email, name=email.split("@")[0].title(), password=PASSWORD
        )
        if workspace_id is not None:
            await auth.add_member(s, workspace_id=workspace_id, user=u, role=Role(role))
        uid = u.id
    r = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return Staff(uid, email, r.json()["access_token"])


async def shop(
    app: FastAPI,
    client: httpx.AsyncClient,
    name: str = "Kauppa",
    *,
    owner_email: str | None = None,
    origins: list[str] | None = None,
) -> Shop:
    owner = await user(app, client, owner_email or f"owner-{uuid.uuid4().hex[:8]}@example.fi")
    r = await client.post(
        "/api/v1/workspaces",
        json={"name": name, "allowed_origins": origins if origins is not None else [ORIGIN]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    ws = r.json()
    r = await client.post(
        f"/api/v1/workspaces/{ws['id']}/api-keys", json={"name": "server"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return Shop(ws["id"], ws["site_key"], r.json()["secret"], owner)


def now_ms(offset_s: float = 0.0) -> int:
    return int((utcnow().timestamp() + offset_s) * 1000)


def event(
    type_: str, props: dict[str, Any] | None = None, *, ts: Any = None, id_: str | None = None
) -> dict[str, Any]:
    return {
        "id": id_ or str(uuid.uuid4()),
        "type": type_,
        "ts": ts if ts is not None else now_ms(),
        "props": props or {},
    }


def page(url: str, page_type: str = "other", *, ts: Any = None, **props: Any) -> dict[str, Any]:
    return event("page_view", {"url": url, "page_type": page_type, **props}, ts=ts)


def batch(
    shop_: Shop, events: list[dict[str, Any]], *, visitor: str = "vis-1", visit: str = "visit-1"
) -> dict[str, Any]:
    return {"site_key": shop_.site_key, "visitor_id": visitor, "visit_id": visit, "events": events}


async def track(client: httpx.AsyncClient, body: Any, **kw: Any) -> httpx.Response:
    headers = {"Origin": ORIGIN, **kw.pop("headers", {})}
    return await client.post("/api/v1/track", json=body, headers=headers, **kw)


def at_iso(epoch_s: float) -> str:
    """An aware ISO 8601 time for an epoch-seconds instant (a test clock's)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def datetime_of(epoch_s: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_s, UTC)

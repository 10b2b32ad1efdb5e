"""Shopify `orders/create` and WooCommerce `order.created` webhooks, as those platforms send them.

Both sign the raw body: base64(HMAC-SHA256(secret, body)) in `X-Shopify-Hmac-Sha256` or
`X-WC-Webhook-Signature`. The signature is checked against the exact bytes received, before any
parsing, in constant time. The payload is then mapped to the same `OrderCreate` the API takes,
so an order is one order whichever way it arrives. A visitor id reaches us if the shop's theme
copies the widget's `Kohtaamo.visitorId` into the order: Shopify as a cart/note attribute, and
WooCommerce as order meta, both named `kohtaamo_visitor`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth.dependencies import AdminAccess
from kohtaamo.commerce import service
from kohtaamo.commerce.models import Integration
from kohtaamo.commerce.schemas import OrderCreate
from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import BadRequest, Invalid, NotFound, Unauthorized
from kohtaamo.kit.money import to_minor
from kohtaamo.shops.directory import SiteDirectory
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
staff = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["webhooks"])
SIGNATURE = {"shopify": "x-shopify-hmac-sha256", "woocommerce": "x-wc-webhook-signature"}
TOPIC = {
    "shopify": ("x-shopify-topic", "orders/create"),
    "woocommerce": ("x-wc-webhook-topic", "order.created"),
}
VISITOR_KEY = "kohtaamo_visitor"
MAX_BODY = 1_048_576
Platform = Annotated[str, Path(pattern="^(shopify|woocommerce)$")]


class IntegrationSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str = Field(min_length=16, max_length=256, description="the webhook's signing secret")


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _attribute(pairs: Any, key: str, name_field: str, value_field: str) -> str | None:
    for item in pairs or []:
        if isinstance(item, dict) and item.get(name_field) == key and item.get(value_field):
            return str(item[value_field])[:64]
    return None


def from_shopify(p: dict[str, Any]) -> OrderCreate:
    currency = str(p.get("currency") or "").upper()
    customer = p.get("customer") or {}
    visitor = _attribute(p.get("note_attributes"), VISITOR_KEY, "name", "value")
    return OrderCreate.model_validate(
        {
            "order_id": str(p["id"]),
            "customer_id": str(customer["id"]) if customer.get("id") else None,
            "visitor_id": visitor,
            "email": p.get("email") or p.get("contact_email") or None,
            "lines": [
                {
                    "product_id": str(li.get("product_id") or li.get("sku") or li.get("id")),
                    "quantity": int(li.get("quantity") or 1),
                    "unit_price": to_minor(li.get("price") or 0, currency),
                }
                for li in p.get("line_items") or []
            ],
            "total": to_minor(p.get("total_price") or 0, currency),
            "currency": currency,
            "created_at": p.get("created_at"),
        }
    )


def from_woocommerce(p: dict[str, Any]) -> OrderCreate:
    currency = str(p.get("currency") or "").upper()
    created = p.get("date_created_gmt")
    customer = p.get("customer_id")
    return OrderCreate.model_validate(
        {
            "order_id": str(p["id"]),
            "customer_id": str(customer) if customer else None,  # 0 is a guest
            "visitor_id": _attribute(p.get("meta_data"), VISITOR_KEY, "key", "value"),
            "email": (p.get("billing") or {}).get("email") or None,
            "lines": [
                {
                    "product_id": str(li.get("product_id") or li.get("sku") or li.get("id")),
                    "quantity": int(li.get("quantity") or 1),
                    "unit_price": to_minor(li.get("price") or 0, currency),
                }
                for li in p.get("line_items") or []
            ],
            "total": to_minor(p.get("total") or 0, currency),
            "currency": currency,
            # WooCommerce sends GMT without a zone designator.
            "created_at": f"{created}+00:00" if created and "+" not in created else created,
        }
    )


MAPPERS = {"shopify": from_shopify, "woocommerce": from_woocommerce}


@router.post("/{platform}/{site_key}", status_code=200)
async def receive(platform: Platform, site_key: str, request: Request, db: DB) -> Response:
    directory: SiteDirectory = request.app.state.directory
    site = await directory.by_site_key(site_key)
    integration = await db.get(Integration, (site.workspace_id, platform)) if site else None
    if site is None or integration is None:
        raise NotFound(f"no {platform} integration at this address", field="site_key")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes", field="body")
    sent = request.headers.get(SIGNATURE[platform], "")
    if not hmac.compare_digest(sent.encode(), signature(integration.secret, body).encode()):
        raise Unauthorized(
            "the webhook signature does not match the body", field=SIGNATURE[platform]
        )
    header, wanted = TOPIC[platform]
    topic = request.headers.get(header)
    if topic is None and platform == "woocommerce" and body.startswith(b"webhook_id="):
        return Response(status_code=200)  # WooCommerce's ping when the webhook is saved
    if topic != wanted:
        return Response(status_code=202)  # signed, but not an event we take: acknowledged
    try:
        payload = jsonx.loads(body)
        data = MAPPERS[platform](payload)
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid(f"the {platform} order could not be read: {exc}", field="body") from None
    integration.last_received_at = utcnow()
    order, created = await service.record_order(
        db, workspace_id=site.workspace_id, data=data, source=platform, confirmed=True
    )
    return Response(
        jsonx.dumps({"order_id": order.order_key, "created": created}),
        status_code=201 if created else 200,
        media_type="application/json",
    )


@staff.put("/integrations/{platform}", status_code=204)
async def set_integration(
    platform: Platform, body: IntegrationSet, access: AdminAccess, db: DB
) -> Response:
    await _save(db, access.workspace_id, platform, body.secret)
    return Response(status_code=204)


async def _save(session: AsyncSession, workspace_id: int, platform: str, secret: str) -> None:
    row = await session.get(Integration, (workspace_id, platform))
    if row is None:
        session.add(
            Integration(
                workspace_id=workspace_id, platform=platform, secret=secret, created_at=utcnow()
            )
        )
    else:
        row.secret = secret
    await session.flush()

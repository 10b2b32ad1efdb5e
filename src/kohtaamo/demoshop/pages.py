"""The demo shop's pages. Its cart, checkout and login live in the browser (static/demo-shop.js)
and report what happens with `Kohtaamo.track`, as a shop's own code would."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from kohtaamo.shops.models import Workspace
from kohtaamo.simulate.shop import BY_ID, PRODUCTS
from kohtaamo.web.deps import DB
from kohtaamo.web.templates import render

router = APIRouter(prefix="/demo-shop", include_in_schema=False)
DEMO = "Demo"
PAGES = {"": "shop_list.html", "kori": "shop_cart.html", "kassa": "shop_checkout.html",
         "kiitos": "shop_thanks.html", "kirjaudu": "shop_login.html", "ukk": "shop_faq.html"}  # fmt: skip
TYPES = {"": "landing", "kori": "cart", "kassa": "checkout", "kiitos": "other",
         "kirjaudu": "account", "ukk": "faq"}  # fmt: skip


async def _site_key(db: DB) -> str | None:
    key = await db.scalar(select(Workspace.site_key).where(Workspace.name == DEMO).limit(1))
    return str(key) if key else None


async def _page(
    request: Request, db: DB, name: str, page_type: str, status: int = 200, **kw: object
) -> Response:
    site_key = await _site_key(db)
    if site_key is None:
        return Response(
            "The demo shop needs the demo workspace: run `kohtaamo demo`.", status_code=404
        )
    return render(
        request, name, status, locale="fi", site_key=site_key, page_type=page_type,
        products=PRODUCTS, **kw,
    )  # fmt: skip


@router.get("")
async def shop_home(request: Request, db: DB) -> Response:
    return await _page(request, db, "shop_list.html", "landing")


@router.get("/tuote/{product_id}")
async def product(
    request: Request, db: DB, product_id: Annotated[str, Path(max_length=64)]
) -> Response:
    item = BY_ID.get(product_id)
    if item is None:
        # The old product's link is still on the FAQ page: the classic broken internal link.
        return await _page(request, db, "shop_404.html", "other", status=404)
    return await _page(request, db, "shop_product.html", "product", item=item)


@router.get("/api/toimitusaika")
async def delivery_estimate() -> JSONResponse:
    """Always fails, as a flaky back-end does: the cart page reports it as a server error."""
    return JSONResponse({"error": "the delivery service did not answer"}, status_code=502)


@router.get("/{page}")
async def shop_page(
    request: Request, db: DB, page: Annotated[str, Path(max_length=32)]
) -> Response:
    if page not in PAGES:
        return await _page(request, db, "shop_404.html", "other", status=404)
    return await _page(request, db, PAGES[page], TYPES[page])

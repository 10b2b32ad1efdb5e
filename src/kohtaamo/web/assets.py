"""`/widget.js` and `/widget.css`: the one tag a shop embeds, served small and cacheable.

Read and gzipped once per process; an ETag lets browsers revalidate cheaply; a short max-age so a
new release reaches shops within minutes (the URL is fixed: shops never change their tag)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

HERE = Path(__file__).parent / "widget"
router = APIRouter(include_in_schema=False)
TYPES = {"widget.js": "text/javascript; charset=utf-8", "widget.css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    raw: bytes
    gz: bytes
    etag: str
    media_type: str


@lru_cache(maxsize=4)
def load(name: str) -> Asset:
    raw = (HERE / name).read_bytes()
    return Asset(
        raw=raw,
        gz=gzip.compress(raw, compresslevel=9, mtime=0),
        etag='"' + hashlib.sha256(raw).hexdigest()[:20] + '"',
        media_type=TYPES[name],
    )


def _serve(request: Request, name: str) -> Response:
    asset = load(name)
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        # The widget runs on other sites' pages; nothing of ours needs to be readable by them.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gz, media_type=asset.media_type, headers=headers)
    return Response(asset.raw, media_type=asset.media_type, headers=headers)


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not q.startswith("q=") or q.removeprefix("q=") not in (
                "0",
                "0.0",
                "0.00",
                "0.000",
            )
    return False


@router.get("/widget.js")
async def widget_js(request: Request) -> Response:
    return _serve(request, "widget.js")


@router.get("/widget.css")
async def widget_css(request: Request) -> Response:
    return _serve(request, "widget.css")

"""Jinja2 pages: one environment, autoescaped, with the locale's texts; static files are local."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kohtaamo.web import i18n

HERE = Path(__file__).parent
PACKAGE = HERE.parent
LANG_COOKIE = "kohtaamo_lang"

# Each domain keeps its pages' templates in <domain>/templates; the layout lives here.
_dirs = [HERE / "templates", *sorted(p for p in PACKAGE.glob("*/templates") if p.parent != HERE)]
env = Environment(
    loader=FileSystemLoader([str(d) for d in _dirs]),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def locale_of(request: Request, default: str = "fi") -> str:
    return i18n.pick(
        request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE), default
    )


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    locale = context.pop("locale", None) or locale_of(request)

    def t(key: str, **params: object) -> str:
        return i18n.translate(locale, key, **params)

    html = env.get_template(name).render(request=request, locale=locale, t=t, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Language": locale})


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

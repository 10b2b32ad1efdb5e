"""One-time messages across a redirect (Post/Redirect/Get), so a reload never re-submits a form."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kohtaamo.kit import jsonx

COOKIE = "kohtaamo_flash"


def set_flash(response: Response, path: str, **data: Any) -> None:
    # httponly and scoped to the page that shows it; it lives one minute and is read once.
    response.set_cookie(
        COOKIE, jsonx.dumps_str(data), max_age=60, path=path, httponly=True, samesite="strict"
    )


def pop_flash(request: Request, response: Response, path: str) -> dict[str, Any]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    response.delete_cookie(COOKIE, path=path)
    try:
        data = jsonx.loads(raw)
    except jsonx.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}

"""Login, logout and language: HTML forms with CSRF protection (double-submit before login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from kohtaamo.auth import service
from kohtaamo.auth.dependencies import SESSION_COOKIE, current_principal, optional_principal
from kohtaamo.kit.errors import Forbidden, RateLimited
from kohtaamo.kit.tokens import new_token, same
from kohtaamo.web import i18n
from kohtaamo.web.deps import DB, AppSettings
from kohtaamo.web.templates import LANG_COOKIE, locale_of, render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "kohtaamo_login_csrf"


def _safe_next(value: str | None) -> str:
    # Only local paths: an open redirect after login is a phishing tool.
    # Browsers read "/\\host" as "//host", so a backslash after the slash is refused too.
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/workspaces"


def _secure(request: Request) -> bool:
    # Behind a TLS-terminating proxy the app may see http; the public URL says what users use.
    public: str = request.app.state.settings.public_base_url
    return request.url.scheme == "https" or public.startswith("https://")


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/workspaces", status_code=303)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    token = request.cookies.get(LOGIN_CSRF) or new_token("lc", 16)
    response = render(
        request,
        "login.html",
        login_csrf=token,
        next=_safe_next(next),
        email="",
        error=None,
        user=None,
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    db: DB,
    settings: AppSettings,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/workspaces",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not same(cookie, csrf_token):
        raise Forbidden("the login form expired; reload the page", field="csrf_token")
    locale = locale_of(request)

    def again(error: str, status: int) -> Response:
        return render(
            request,
            "login.html",
            status,
            login_csrf=cookie,
            next=_safe_next(next),
            email=email,
            error=error,
            user=None,
        )

    try:
        await service.throttle_login(
            request.app.state.limiter,
            ip=request.client.host if request.client else "unknown",
            email=email,
            attempts=settings.login_attempts_per_window,
            window_seconds=settings.login_window_seconds,
        )
    except RateLimited as exc:
        return again(i18n.translate(locale, "login.throttled", seconds=exc.retry_after), 429)
    user = await service.authenticate(db, email=email, password=password)
    if user is None:
        return again(i18n.translate(locale, "login.failed"), 401)
    token, _ = await service.start_session(db, user=user, kind="cookie", days=settings.session_days)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.set_cookie(LANG_COOKIE, user.locale, max_age=365 * 86400, samesite="lax")
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/logout")
async def logout(request: Request, db: DB) -> Response:
    principal = await current_principal(await optional_principal(request, db))
    await service.end_session(db, principal.auth)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/lang")
async def set_language(
    lang: Annotated[str, Form(pattern="^(fi|en)$")],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response

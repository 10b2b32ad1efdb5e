"""Rule pages: the list with templates, the rule form, and "try a rule" with its trace."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from kohtaamo.auth.dependencies import page_member
from kohtaamo.auth.models import Role
from kohtaamo.auth.service import Principal
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import AppError
from kohtaamo.rules import service, texts
from kohtaamo.rules.catalog import TEMPLATES
from kohtaamo.rules.forms import (
    MAX_VARIANTS,
    VARIANT_ROWS,
    FormError,
    describe,
    to_payload,
    values_of,
)
from kohtaamo.rules.models import Exposure, Rule
from kohtaamo.rules.router import evaluate
from kohtaamo.rules.schemas import RuleCreate, RuleUpdate, TryRequest
from kohtaamo.shops.service import get_workspace
from kohtaamo.tracking.models import Visit
from kohtaamo.web import numbers
from kohtaamo.web.deps import DB
from kohtaamo.web.flash import pop_flash, set_flash
from kohtaamo.web.templates import locale_of, render

router = APIRouter(include_in_schema=False)
_TEXTS = texts  # registers the pages' Finnish and English texts
WsId = Annotated[int, Path(ge=1)]
RuleId = Annotated[int, Path(ge=1)]


def _list_path(ws_id: int) -> str:
    return f"/workspaces/{ws_id}/rules"


async def _stats(db: DB, ws_id: int) -> dict[int, dict[str, int]]:
    since = utcnow() - timedelta(days=7)
    stmt = (
        select(Exposure.rule_id, Exposure.outcome, func.count())
        .where(Exposure.workspace_id == ws_id, Exposure.at >= since)
        .group_by(Exposure.rule_id, Exposure.outcome)
    )
    out: dict[int, dict[str, int]] = {}
    for rule_id, outcome, n in (await db.execute(stmt)).all():
        out.setdefault(rule_id, {})[outcome] = n
    return out


@router.get("/workspaces/{ws_id}/rules")
async def rules_list(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    return await _render_list(request, db, ws_id, *m)


async def _render_list(
    request: Request, db: DB, ws_id: int, p: Principal, role: Role, status: int = 200
) -> Response:
    carrier = Response()
    flash = pop_flash(request, carrier, _list_path(ws_id))
    rules = await service.list_rules(db, ws_id)
    installed = {r.template for r in rules}
    response = render(
        request,
        "rules.html",
        status,
        user=p.user,
        csrf=p.auth.csrf_token,
        ws=await get_workspace(db, ws_id),
        is_admin=role.at_least(Role.admin),
        rules=rules,
        stats=await _stats(db, ws_id),
        templates=[t for t in TEMPLATES if t.slug not in installed],
        flash=flash,
    )
    response.raw_headers.extend(h for h in carrier.raw_headers if h[0] == b"set-cookie")
    return response


@router.post("/workspaces/{ws_id}/rules/templates")
async def install(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    if not role.at_least(Role.admin):
        return await _render_list(request, db, ws_id, p, role, 403)
    form = await request.form()
    slugs = [str(s) for s in form.getlist("slug")]
    ws = await get_workspace(db, ws_id)
    made = await service.install_templates(
        db, workspace_id=ws_id, slugs=None if "all" in slugs else slugs, locale=ws.locale
    )
    response = RedirectResponse(_list_path(ws_id), status_code=303)
    set_flash(response, _list_path(ws_id), notice="rules.installed", n=len(made))
    return response


@router.post("/workspaces/{ws_id}/rules/{rule_id}/toggle")
async def toggle(ws_id: WsId, rule_id: RuleId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    if not role.at_least(Role.admin):
        return await _render_list(request, db, ws_id, p, role, 403)
    rule = await service.get_rule(db, ws_id, rule_id)
    await service.update_rule(db, rule=rule, data=RuleUpdate(enabled=not rule.enabled))
    return RedirectResponse(_list_path(ws_id), status_code=303)


async def _form(
    request: Request,
    db: DB,
    ws_id: int,
    p: Principal,
    role: Role,
    rule: Rule | None,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    error: FormError | None = None,
) -> Response:
    return render(
        request,
        "rule_form.html",
        status,
        user=p.user,
        csrf=p.auth.csrf_token,
        ws=await get_workspace(db, ws_id),
        is_admin=role.at_least(Role.admin),
        rule=rule,
        v=values if values is not None else values_of(rule),
        variant_rows=range(
            min(max(VARIANT_ROWS, len(rule.variants if rule else []) + 1), MAX_VARIANTS)
        ),
        error=error,
    )


@router.get("/workspaces/{ws_id}/rules/new")
async def new_form(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    return await _form(request, db, ws_id, *m, None)


@router.get("/workspaces/{ws_id}/rules/try")
async def try_page(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    condition = '{">=": [{"var": "page.idle_seconds"}, 90]}'
    rule_id = request.query_params.get("rule")
    if rule_id and rule_id.isdigit():
        rule = await service.get_rule(db, ws_id, int(rule_id))
        condition = json.dumps(rule.condition, indent=2, ensure_ascii=False)
    return await _try(request, db, ws_id, m[0], {"condition": condition, "visit": ""})


async def _try(
    request: Request,
    db: DB,
    ws_id: int,
    p: Principal,
    v: dict[str, str],
    *,
    result: Any = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    stmt = (
        select(Visit)
        .where(Visit.workspace_id == ws_id)
        .order_by(Visit.last_event_at.desc())
        .limit(15)
    )
    visits = list((await db.execute(stmt)).scalars())
    ws = await get_workspace(db, ws_id)
    locale = locale_of(request, ws.locale)
    return render(
        request,
        "rule_try.html",
        status,
        locale=locale,
        user=p.user,
        csrf=p.auth.csrf_token,
        ws=ws,
        # The workspace's zone, named, and its language, as on the report pages.
        when=lambda at: numbers.when(at, ws.timezone, locale, year=False),
        visits=visits,
        v=v,
        result=result,
        context_json=json.dumps(result.context, indent=2, ensure_ascii=False) if result else "",
        error=error,
    )


@router.post("/workspaces/{ws_id}/rules/try")
async def try_run(ws_id: WsId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    form = await request.form()
    v = {k: str(form.get(k) or "") for k in ("condition", "visit", "context")}
    try:
        condition = json.loads(v["condition"])
    except (json.JSONDecodeError, RecursionError) as exc:
        return await _try(request, db, ws_id, m[0], v, error=f"condition: {exc!s}", status=422)
    body: dict[str, Any] = {"condition": condition}
    if v["context"].strip():
        try:
            body["context"] = json.loads(v["context"])
        except (json.JSONDecodeError, RecursionError) as exc:
            return await _try(request, db, ws_id, m[0], v, error=f"context: {exc}", status=422)
    elif "|" in v["visit"]:
        body["visitor_id"], body["visit_id"] = v["visit"].split("|", 1)
    try:
        result = await evaluate(request, db, ws_id, TryRequest.model_validate(body))
    except ValidationError as exc:
        return await _try(request, db, ws_id, m[0], v, error=str(describe(exc)), status=422)
    except AppError as exc:
        return await _try(request, db, ws_id, m[0], v, error=str(exc), status=exc.status)
    return await _try(request, db, ws_id, m[0], v, result=result)


@router.post("/workspaces/{ws_id}/rules/new")
async def create(ws_id: WsId, request: Request, db: DB) -> Response:
    return await _save(ws_id, None, request, db)


@router.get("/workspaces/{ws_id}/rules/{rule_id}")
async def edit_form(ws_id: WsId, rule_id: RuleId, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    return await _form(request, db, ws_id, *m, await service.get_rule(db, ws_id, rule_id))


@router.post("/workspaces/{ws_id}/rules/{rule_id}")
async def update(ws_id: WsId, rule_id: RuleId, request: Request, db: DB) -> Response:
    return await _save(ws_id, rule_id, request, db)


async def _save(ws_id: int, rule_id: int | None, request: Request, db: DB) -> Response:
    m = await page_member(request, db, ws_id)
    if isinstance(m, Response):
        return m
    p, role = m
    rule = await service.get_rule(db, ws_id, rule_id) if rule_id else None
    form = await request.form()
    if not role.at_least(Role.admin):
        return await _form(request, db, ws_id, p, role, rule, status=403)
    try:
        payload = to_payload(form)
        if rule is None:
            saved = await service.create_rule(
                db, workspace_id=ws_id, data=RuleCreate.model_validate(payload)
            )
        else:
            saved = await service.update_rule(
                db, rule=rule, data=RuleUpdate.model_validate(payload)
            )
    except FormError as exc:
        error = exc
    except ValidationError as exc:
        error = describe(exc)
    except AppError as exc:
        error = FormError(exc.field or "form", str(exc))
    else:
        response = RedirectResponse(_list_path(ws_id), status_code=303)
        set_flash(response, _list_path(ws_id), notice="rules.saved", name=saved.name)
        return response
    values = values_of(rule, form)
    return await _form(request, db, ws_id, p, role, rule, status=422, values=values, error=error)

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from kohtaamo.auth.dependencies import AdminAccess, MemberAccess
from kohtaamo.kit import jsonx
from kohtaamo.kit.errors import Invalid, NotFound
from kohtaamo.rules import jsonlogic, service
from kohtaamo.rules.catalog import TEMPLATES
from kohtaamo.rules.context import Future
from kohtaamo.rules.engine import Engine
from kohtaamo.rules.js import truthy
from kohtaamo.rules.jsonlogic import RuleError
from kohtaamo.rules.schemas import (
    ExposureRead,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    TemplateRead,
    TraceStep,
    TryRequest,
    TryResult,
)
from kohtaamo.rules.timing import analyse, first_true, instants
from kohtaamo.rules.trace import trace
from kohtaamo.shops.directory import site_of
from kohtaamo.shops.models import Workspace
from kohtaamo.tracking.live import LiveStore
from kohtaamo.tracking.models import Visit
from kohtaamo.web.deps import DB

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["rules"])
RuleId = Annotated[int, Path(ge=1)]


class InstallTemplates(BaseModel):
    slugs: list[str] | None = Field(default=None, max_length=50)


@router.get("/rules")
async def list_rules(access: MemberAccess, db: DB) -> list[RuleRead]:
    rows = await service.list_rules(db, access.workspace_id)
    return [RuleRead.model_validate(r) for r in rows]


@router.post("/rules", status_code=201)
async def create_rule(body: RuleCreate, access: AdminAccess, db: DB) -> RuleRead:
    rule = await service.create_rule(db, workspace_id=access.workspace_id, data=body)
    return RuleRead.model_validate(rule)


@router.get("/rules/{rule_id}")
async def get_rule(rule_id: RuleId, access: MemberAccess, db: DB) -> RuleRead:
    return RuleRead.model_validate(await service.get_rule(db, access.workspace_id, rule_id))


@router.patch("/rules/{rule_id}")
async def update_rule(rule_id: RuleId, body: RuleUpdate, access: AdminAccess, db: DB) -> RuleRead:
    rule = await service.get_rule(db, access.workspace_id, rule_id)
    return RuleRead.model_validate(await service.update_rule(db, rule=rule, data=body))


@router.get("/rules/{rule_id}/exposures")
async def list_exposures(
    rule_id: RuleId,
    access: MemberAccess,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ExposureRead]:
    await service.get_rule(db, access.workspace_id, rule_id)
    rows = await service.exposures_of(db, access.workspace_id, rule_id, limit=limit)
    return [
        ExposureRead(
            id=x.id,
            rule_id=x.rule_id,
            visitor_id=x.visitor_key,
            visit_id=x.visit_key,
            at=x.at,
            outcome=x.outcome,
            variant=x.variant,
            reason=x.reason,
        )
        for x in rows
    ]


@router.get("/rule-templates")
async def list_templates(access: MemberAccess) -> list[TemplateRead]:
    return [
        TemplateRead(
            slug=t.slug, name=t.name, description=t.description, group=t.group, rule=t.rule("en")
        )
        for t in TEMPLATES
    ]


@router.post("/rules/from-templates", status_code=201)
async def install_templates(body: InstallTemplates, access: AdminAccess, db: DB) -> list[RuleRead]:
    ws = await db.get(Workspace, access.workspace_id)
    assert ws is not None
    rows = await service.install_templates(
        db, workspace_id=access.workspace_id, slugs=body.slugs, locale=ws.locale
    )
    return [RuleRead.model_validate(r) for r in rows]


@router.post("/rules/try")
async def try_rule(body: TryRequest, access: MemberAccess, db: DB, request: Request) -> TryResult:
    """Evaluate a condition (or a saved rule's) against a live visit or a pasted context."""
    return await evaluate(request, db, access.workspace_id, body)


async def evaluate(request: Request, db: DB, workspace_id: int, body: TryRequest) -> TryResult:
    condition = body.condition
    if body.rule_id is not None:
        condition = (await service.get_rule(db, workspace_id, body.rule_id)).condition
    service.check_condition(condition)
    ws = await db.get(Workspace, workspace_id)
    assert ws is not None
    site = site_of(ws)
    now = request.app.state.tracker.clock()
    state: dict[str, Any] | None = None
    if body.context is not None:
        ctx = body.context
        try:
            jsonx.dumps(ctx)
        except TypeError:
            raise Invalid(
                "the context holds text that is not valid Unicode", field="context"
            ) from None
    else:
        state = await _live_state(request, db, workspace_id, body)
        engine: Engine = request.app.state.rules
        ctx = await engine.context(site, state, now=now)
    try:
        result, steps = trace(condition, ctx)
    except (RuleError, ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        # The same failure makes the rule count as false when it runs live (and is logged).
        raise Invalid(f"the condition fails on this context: {exc}", field="condition") from None
    check_in = None
    if state is not None and not truthy(result):
        test = jsonlogic.compile(condition)
        ts = instants(analyse(condition), state, now=now, tz=site.timezone)
        future = Future(ctx, state, site.timezone)
        at = first_true(ts, future, holds=lambda c, _t: bool(truthy(test(c))))
        check_in = None if at is None else round(at - now, 3)
    return TryResult(
        result=result,
        matched=bool(truthy(result)),
        context=ctx,
        trace=[TraceStep(**s) for s in steps],
        check_in=check_in,
    )


async def _live_state(
    request: Request, db: DB, workspace_id: int, body: TryRequest
) -> dict[str, Any]:
    visitor, visit = body.visitor_id, body.visit_id
    if not visitor or not visit:
        if visitor or visit:
            raise Invalid("give both visitor_id and visit_id, or neither", field="visit_id")
        stmt = (
            select(Visit)
            .where(Visit.workspace_id == workspace_id)
            .order_by(Visit.last_event_at.desc())
            .limit(1)
        )
        row = (await db.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound("no visits yet: paste a context instead", field="visit_id")
        visitor, visit = row.visitor_key, row.key
    live: LiveStore = request.app.state.tracker.live
    state = await live.get((workspace_id, visitor, visit))
    if state is None:
        raise NotFound(
            "that visit is no longer live (its state expired): choose a recent one or paste a "
            "context",
            field="visit_id",
        )
    return state

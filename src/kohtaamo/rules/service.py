"""Rules: create, edit, enable/disable, install templates, read exposures, try a condition."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.bus import publish
from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Invalid, NotFound
from kohtaamo.rules import extensions, jsonlogic
from kohtaamo.rules.book import RulesChanged
from kohtaamo.rules.catalog import BY_SLUG, TEMPLATES
from kohtaamo.rules.models import Exposure, Rule
from kohtaamo.rules.schemas import RuleCreate, RuleUpdate

MAX_CONDITION_BYTES = 16_384
MAX_DEPTH = 40
MAX_RULES = 500


def _too_deep(node: Any, limit: int) -> bool:
    """Iterative, so a hostile 100,000-level nesting cannot exhaust the stack."""
    stack = [(node, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, list):
            stack.extend((x, depth + 1) for x in value)
        elif isinstance(value, dict):
            stack.extend((x, depth + 1) for x in value.values())
    return False


def check_condition(condition: Any, field: str = "condition") -> None:
    """Refuse what cannot run, pointing at it: `condition.and[1].frobnicate: unknown operator`."""
    if condition is None:
        raise Invalid("a condition is required (use true for 'always')", field=field)
    if _too_deep(condition, MAX_DEPTH):
        raise Invalid(f"the condition nests deeper than {MAX_DEPTH} levels", field=field)
    try:
        size = len(jsonx.dumps(condition))
    except TypeError:  # e.g. a lone surrogate in a string: not text any database can store
        raise Invalid("the condition holds text that is not valid Unicode", field=field) from None
    if size > MAX_CONDITION_BYTES:
        raise Invalid(f"the condition is larger than {MAX_CONDITION_BYTES} bytes", field=field)
    try:
        jsonlogic.check(condition)
        extensions.check_patterns(condition)
        jsonlogic.compile(condition)
    except jsonlogic.RuleError as exc:
        where = exc.path if exc.path != "(rule)" else ""
        raise Invalid(
            f"{field}{'.' if where else ''}{where}: {exc.detail}",
            field=f"{field}.{where}" if where else field,
        ) from None


async def list_rules(session: AsyncSession, workspace_id: int) -> list[Rule]:
    stmt = (
        select(Rule)
        .where(Rule.workspace_id == workspace_id)
        .order_by(Rule.enabled.desc(), Rule.priority.desc(), Rule.id)
    )
    return list((await session.execute(stmt)).scalars())


async def get_rule(session: AsyncSession, workspace_id: int, rule_id: int) -> Rule:
    rule = await session.get(Rule, rule_id)
    if rule is None or rule.workspace_id != workspace_id:
        raise NotFound("no such rule", field="rule_id")
    return rule


async def create_rule(session: AsyncSession, *, workspace_id: int, data: RuleCreate) -> Rule:
    check_condition(data.condition)
    count = len(await list_rules(session, workspace_id))
    if count >= MAX_RULES:
        raise Invalid(f"a workspace has at most {MAX_RULES} rules", field="name")
    now = utcnow()
    rule = Rule(
        workspace_id=workspace_id,
        name=data.name,
        enabled=data.enabled,
        condition=data.condition,
        action=data.action.model_dump(exclude_none=True),
        goal=data.goal.value,
        priority=data.priority,
        cap_per_visit=data.cap_per_visit,
        cap_days=data.cap_days,
        active_hours=data.active_hours.stored() if data.active_hours else None,
        holdout_share=data.holdout_share,
        variants=[x.model_dump() for x in data.variants],
        min_free_agents=data.min_free_agents,
        is_default=data.is_default,
        template=data.template,
        seed=data.seed or secrets.token_hex(8),
        revision=1,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await session.flush()
    publish(session, RulesChanged(workspace_id, rule.id))
    return rule


async def update_rule(session: AsyncSession, *, rule: Rule, data: RuleUpdate) -> Rule:
    sent = data.model_fields_set
    if "condition" in sent:
        check_condition(data.condition)
        rule.condition = data.condition
    for name in ("name", "priority", "cap_per_visit", "holdout_share", "min_free_agents"):
        if name in sent:
            value = getattr(data, name)
            if value is None:
                raise Invalid(f"{name} cannot be null", field=name)
            setattr(rule, name, value)
    for name in ("is_default", "enabled"):
        if name in sent:
            value = getattr(data, name)
            if value is None:
                raise Invalid(f"{name} cannot be null", field=name)
            setattr(rule, name, value)
    if "action" in sent:
        if data.action is None:
            raise Invalid("action cannot be null", field="action")
        rule.action = data.action.model_dump(exclude_none=True)
    if "goal" in sent:
        if data.goal is None:
            raise Invalid("goal cannot be null", field="goal")
        rule.goal = data.goal.value
    if "variants" in sent:
        rule.variants = [x.model_dump() for x in data.variants or []]
    if "cap_days" in sent:
        rule.cap_days = data.cap_days
    if "active_hours" in sent:
        rule.active_hours = data.active_hours.stored() if data.active_hours else None
    rule.updated_at = utcnow()
    rule.revision += 1
    await session.flush()
    publish(session, RulesChanged(rule.workspace_id, rule.id))
    return rule


async def install_templates(
    session: AsyncSession, *, workspace_id: int, slugs: list[str] | None, locale: str
) -> list[Rule]:
    """Create rules from templates (all when `slugs` is None); ones already installed are skipped."""
    if slugs is not None:
        unknown = [s for s in slugs if s not in BY_SLUG]
        if unknown:
            raise NotFound(f"no such template: {', '.join(unknown)}", field="slugs")
    have = {r.template for r in await list_rules(session, workspace_id)}
    out = []
    for tpl in TEMPLATES:
        if (slugs is None or tpl.slug in slugs) and tpl.slug not in have:
            data = RuleCreate.model_validate(tpl.rule(locale))
            out.append(await create_rule(session, workspace_id=workspace_id, data=data))
    return out


async def exposures_of(
    session: AsyncSession, workspace_id: int, rule_id: int, *, limit: int
) -> list[Exposure]:
    stmt = (
        select(Exposure)
        .where(Exposure.workspace_id == workspace_id, Exposure.rule_id == rule_id)
        .order_by(Exposure.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())

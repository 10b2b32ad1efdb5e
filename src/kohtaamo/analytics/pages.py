"""The owner's report pages: overview, rules and one rule, agents, funnel (Finnish and English).
Numbers come from the analytics archive (analytics/kpis, experiments, funnel, series); names and
conversations from the primary database. Each page answers `?format=csv` with its table."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import select

from kohtaamo.analytics import earned, experiments, funnel, series
from kohtaamo.analytics import texts as _texts
from kohtaamo.analytics.exports import Col, Table
from kohtaamo.analytics.view import View, csv_response, report_view
from kohtaamo.auth.models import Membership, User
from kohtaamo.chat.models import ChatAgent, Conversation, Message, Team
from kohtaamo.kit.errors import NotFound
from kohtaamo.rules.models import Rule
from kohtaamo.web import i18n
from kohtaamo.web.deps import DB
from kohtaamo.web.templates import render

router = APIRouter(include_in_schema=False)
WsId = Annotated[int, Path(ge=1)]
RuleId = Annotated[int, Path(ge=1)]
TEXTS = _texts  # registers the pages' texts


def _page(request: Request, view: View, name: str, **context: Any) -> Response:
    return render(
        request,
        name,
        locale=view.fmt.locale,
        roomy=True,
        min_sample=experiments.MIN_SAMPLE,
        **view.context(),
        **context,
    )


def _json(data: Any) -> str:
    """JSON for a <script type="application/json"> block: no "</script>" can end it early."""
    return json.dumps(data).replace("<", "\\u003c")


def _verdict(e: experiments.Experiment | None) -> tuple[str, dict[str, Any]]:
    if e is None or not (e.exposed.visitors or e.holdout.visitors):
        return "none", {}
    small = min(e.exposed.visitors, e.holdout.visitors)
    if small < experiments.MIN_SAMPLE:
        return "little", {"n": small, "min": experiments.MIN_SAMPLE}
    if e.p_sequential < 0.05:
        return ("win" if e.uplift > 0 else "lose"), {}
    return "flat", {}


async def _experiments(view: View) -> dict[int, experiments.Experiment]:
    if view.archive is None:
        return {}
    found = await asyncio.to_thread(
        experiments.experiments,
        view.archive,
        view.ws.id,
        window_days=view.ws.attribution_days,
        start=view.start,
        end=view.end,
    )
    return {e.rule_id: e for e in found}


@router.get("/workspaces/{ws_id}/overview")
async def overview(ws_id: WsId, request: Request, db: DB) -> Response:
    view = await report_view(request, db, ws_id)
    if isinstance(view, Response):
        return view
    daily = (
        await asyncio.to_thread(
            series.daily, view.archive, ws_id, view.start, view.end, view.ws.timezone
        )
        if view.archive
        else series.Series([])
    )
    if request.query_params.get("format") == "csv":
        names = list(daily.values)
        cols = (Col("csv.day", "date"), *(Col(f"shop.{n}") for n in names))
        rows = [[d, *(daily.values[n][i] for n in names)] for i, d in enumerate(daily.days)]
        return _csv(view, "overview.csv", cols, rows)
    tiles = {}
    for slug in ("visitors", "conversations", "orders", "revenue", "conversion", "csat"):
        tiles[slug] = (await view.kpi(f"shop.{slug}")).get("shop")
    return _page(
        request,
        view,
        "overview.html",
        tab="overview",
        tiles=tiles,
        chat_conv=await view.kpi("shop.conversion_chatters_vs_not"),
        chat_aov=await view.kpi("shop.aov_chatters_vs_not"),
        # Earned means incremental: a rule credited with orders that would have come anyway
        # earns nothing (rules without both arms, and so no estimate, come last).
        top_rules=sorted(
            (r for r in await _rule_rows(db, view) if r["fired"] or r["held_out"]),
            key=lambda r: (r["earned"].value is None, -(r["earned"].value or 0)),
        )[:5],
        chart=_json(daily.as_json()),
    )


RULE_KPIS = (
    "fired", "held_out", "chats_opened", "visitor_replied", "conversions_window",
    "conversions_same_visit", "revenue", "aov", "csat",
)  # fmt: skip


RULES_CSV = (
    Col("csv.rule_id", "id"),
    Col("csv.rule", "text"),
    Col("rule.fired"),
    Col("rule.held_out"),
    Col("rule.conversations"),
    Col("rule.conversions_window"),
    Col("rule.conversions_same_visit"),
    Col("rule.revenue"),
    Col("rule.aov"),
    Col("rule.incremental_revenue"),
    Col("csv.incremental_low", "money"),
    Col("csv.incremental_high", "money"),
    Col("rule.csat"),
    Col("rule.uplift"),
    Col("csv.uplift_low", "points"),
    Col("csv.uplift_high", "points"),
    Col("csv.p_sequential", "p"),
    Col("csv.verdict", "text"),
)
ARMS_CSV = (
    Col("csv.arm", "text"), Col("csv.variant", "text"), Col("arm.people"), Col("arm.converted"),
    Col("arm.conversion"), Col("arm.orders"), Col("arm.revenue"), Col("arm.rpv"),
)  # fmt: skip


def _csv(view: View, filename: str, cols: tuple[Col, ...], rows: list[list[Any]]) -> Response:
    """The page's table in its language, each column with its unit (analytics/exports.py)."""
    table = Table(view.fmt.locale, view.ws.currency, view.ws.timezone)
    header, body = table.rows(cols, rows)
    return csv_response(filename, header, body)


def _rule_csv_row(x: dict[str, Any], locale: str) -> list[Any]:
    e: experiments.Experiment | None = x["e"]
    both = e is not None and e.exposed.visitors > 0 and e.holdout.visitors > 0
    low, high = e.uplift_interval if e is not None and both else (None, None)
    return [
        x["rule"].id, x["rule"].name, x["fired"], x["held_out"], x["visitor_replied"],
        x["conversions_window"], x["conversions_same_visit"], x["revenue"] or 0, x["aov"],
        x["earned"].value, x["earned"].low, x["earned"].high, x["csat"],
        e.uplift if e is not None and both else None, low, high,
        e.p_sequential if e is not None and both else None,
        i18n.translate(locale, f"rep.verdict.{x['verdict']}", **x["vparams"]),
    ]  # fmt: skip


async def _rule_rows(db: DB, view: View) -> list[dict[str, Any]]:
    """Every rule of the workspace with its KPIs, experiment and verdict, busiest first."""
    rules = (
        (
            await db.execute(
                select(Rule).where(Rule.workspace_id == view.ws.id).order_by(Rule.priority)
            )
        )
        .scalars()
        .all()
    )
    exps = await _experiments(view)
    k = {slug: await view.kpi(f"rule.{slug}") for slug in RULE_KPIS}
    rows = []
    for r in rules:
        e = exps.get(r.id)
        verdict, params = _verdict(e)
        rows.append(
            {"rule": r, "e": e, "verdict": verdict, "vparams": params}
            | {"earned": earned.incremental(e)}
            | {name: values.get(str(r.id)) for name, values in k.items()}
        )
    rows.sort(key=lambda x: -(x["fired"] or 0) - (x["held_out"] or 0))
    return rows


@router.get("/workspaces/{ws_id}/reports/rules")
async def rules_report(ws_id: WsId, request: Request, db: DB) -> Response:
    view = await report_view(request, db, ws_id)
    if isinstance(view, Response):
        return view
    rows = await _rule_rows(db, view)
    if request.query_params.get("format") == "csv":
        return _csv(view, "rules.csv", RULES_CSV, [_rule_csv_row(x, view.fmt.locale) for x in rows])
    return _page(request, view, "rules_report.html", tab="rules", rows=rows)


async def _conversations(db: DB, view: View, rule_id: int) -> list[dict[str, Any]]:
    convs = (
        (
            await db.execute(
                select(Conversation)
                .where(
                    Conversation.workspace_id == view.ws.id,
                    Conversation.rule_id == rule_id,
                    Conversation.created_at >= view.start,
                    Conversation.created_at < view.end,
                )
                .order_by(Conversation.created_at.desc())
                .limit(20)
            )
        )
        .scalars()
        .all()
    )
    ids = [c.id for c in convs]
    msgs: dict[int, list[Message]] = {i: [] for i in ids}
    if ids:
        for m in (
            await db.execute(
                select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.seq)
            )
        ).scalars():
            msgs[m.conversation_id].append(m)
    return [{"c": c, "messages": msgs[c.id]} for c in convs]


@router.get("/workspaces/{ws_id}/reports/rules/{rule_id}")
async def rule_report(ws_id: WsId, rule_id: RuleId, request: Request, db: DB) -> Response:
    view = await report_view(request, db, ws_id)
    if isinstance(view, Response):
        return view
    rule = await db.get(Rule, rule_id)
    if rule is None or rule.workspace_id != ws_id:
        raise NotFound("no such rule", field="rule_id")
    e = (await _experiments(view)).get(rule_id)
    if request.query_params.get("format") == "csv":
        arms = [] if e is None else [e.exposed, e.holdout, *e.variants]
        return _csv(
            view,
            f"rule-{rule_id}.csv",
            ARMS_CSV,
            [
                [i18n.translate(view.fmt.locale, f"rep.arm.{a.arm}"), a.variant, a.visitors,
                 a.converted, a.conversion, a.orders, a.revenue, a.rpv]
                for a in arms
            ],
        )  # fmt: skip
    figures = {}
    for slug in ("fired", "held_out", "chats_opened", "visitor_replied", "conversions_window",
                 "conversions_same_visit", "revenue", "aov", "csat"):  # fmt: skip
        figures[slug] = (await view.kpi(f"rule.{slug}")).get(str(rule_id))
    daily = (
        await asyncio.to_thread(
            series.daily,
            view.archive,
            ws_id,
            view.start,
            view.end,
            view.ws.timezone,
            rule_id=rule_id,
        )
        if view.archive
        else series.Series([])
    )
    verdict, params = _verdict(e)
    return _page(
        request,
        view,
        "rule_report.html",
        tab="rules",
        rule=rule,
        e=e,
        verdict=verdict,
        vparams=params,
        figures=figures,
        earned=earned.incremental(e),
        chart=_json(daily.as_json()),
        conversations=await _conversations(db, view, rule_id),
    )


AGENT_KPIS = (
    "conversations", "thumbs_up_share", "first_response_median", "first_response_p90",
    "reply_wait_median", "reply_wait_p90", "duration_median", "messages_per_conversation",
    "conversion", "asks_for_sale_share", "upsell_share", "forwarded_share", "basket",
)  # fmt: skip
TEAM_KPIS = ("first_response_median", "first_response_p90", "reply_wait_median", "reply_wait_p90")


@router.get("/workspaces/{ws_id}/reports/agents")
async def agents_report(ws_id: WsId, request: Request, db: DB) -> Response:
    view = await report_view(request, db, ws_id)
    if isinstance(view, Response):
        return view
    k = {slug: await view.kpi(f"agent.{slug}") for slug in AGENT_KPIS}
    t = {slug: await view.kpi(f"team.{slug}") for slug in TEAM_KPIS}
    members = (
        await db.execute(
            select(User.id, User.name, ChatAgent.team_id)
            .join(Membership, Membership.user_id == User.id)
            .outerjoin(
                ChatAgent,
                (ChatAgent.user_id == User.id) & (ChatAgent.workspace_id == ws_id),
            )
            .where(Membership.workspace_id == ws_id)
            .order_by(User.name)
        )
    ).all()
    found = await db.execute(select(Team.id, Team.name).where(Team.workspace_id == ws_id))
    teams: dict[int, str] = {int(r[0]): str(r[1]) for r in found.all()}
    rows = [
        {"id": uid, "name": name, "team_id": team, "team": teams.get(team) if team else None}
        | {slug: k[slug].get(str(uid)) for slug in AGENT_KPIS}
        for uid, name, team in members
        if any(str(uid) in k[slug] for slug in AGENT_KPIS)
    ]
    rows.sort(key=lambda r: -(r["conversations"] or 0))
    if request.query_params.get("format") == "csv":
        cols = (
            Col("csv.user_id", "id"),
            Col("rep.col.agent", "text"),
            Col("rep.col.team", "text"),
            *(Col(f"kpi:agent.{slug}") for slug in AGENT_KPIS),
        )
        return _csv(
            view,
            "agents.csv",
            cols,
            [[r["id"], r["name"], r["team"], *(r[s] for s in AGENT_KPIS)] for r in rows],
        )
    team_rows = [
        {"key": key, "name": teams.get(int(key)) if key.isdigit() else None}
        | {slug: t[slug].get(key) for slug in TEAM_KPIS}
        for key in sorted(
            {key for values in t.values() for key in values}, key=lambda x: (x == "all", x)
        )
    ]
    return _page(
        request, view, "agents_report.html", tab="agents", rows=rows, teams=team_rows, team_kpis=t
    )


@router.get("/workspaces/{ws_id}/reports/funnel")
async def funnel_report(ws_id: WsId, request: Request, db: DB) -> Response:
    view = await report_view(request, db, ws_id)
    if isinstance(view, Response):
        return view
    steps = (
        await asyncio.to_thread(funnel.funnel, view.archive, ws_id, view.start, view.end)
        if view.archive
        else []
    )
    top = steps[0].people if steps else 0
    if request.query_params.get("format") == "csv":
        cols = (
            Col("rep.stage", "text"),
            Col("rep.people", "count"),
            Col("rep.of_previous", "share"),
        )
        stage = [i18n.translate(view.fmt.locale, f"stage.{s.stage}") for s in steps]
        return _csv(
            view,
            "funnel.csv",
            cols,
            [[name, s.people, s.of_previous] for name, s in zip(stage, steps, strict=True)],
        )
    chart = {"stages": [s.stage for s in steps], "people": [s.people for s in steps]}
    return _page(
        request,
        view,
        "funnel_report.html",
        tab="funnel",
        steps=steps,
        top=top,
        chart=_json(chart),
    )

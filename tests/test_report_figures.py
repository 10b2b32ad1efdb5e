"""The report pages' figures (issue 12): what a rule earned is incremental revenue, one word
means one figure on every page, in the API and in the CSV, and every figure is checked against a
value computed here from the history's own orders by the documented definition."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from tests import figkit as fk

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def archive(app: FastAPI, tmp_path: Path) -> AsyncIterator[Archive]:
    a = Archive(str(tmp_path / "figures.duckdb"))
    app.state.archive = a
    try:
        yield a
    finally:
        app.state.archive = None
        a.close()


def _incremental(h: fk.History, arms: fk.Arms) -> tuple[float, float, float]:
    """(RPV shown - RPV held out) * visitors shown, with Welch's interval times the same count."""
    spent = dict(h.orders.values())
    shown = [spent.get(v, 0) for v in arms.fired]
    held = [spent.get(v, 0) for v in arms.held]
    diff, low, high = fk.rpv_welch(shown, held)
    n = len(arms.fired)
    return diff * n, low * n, high * n


async def test_the_overview_ranks_rules_by_what_they_earned_against_their_holdout(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    h = await fk.history(app, client)
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    kori, tuote = _incremental(h, h.kori), _incremental(h, h.tuote)
    assert kori[0] < 0 < tuote[0]  # the history's point: Kori is credited with more, earns less
    r = await client.get(f"/workspaces/{h.shop.id}/overview?last=30")
    assert r.status_code == 200, r.text
    page = fk.Figures(r.text)
    top = [v.rule for v in page.values if v.fig == "rule.incremental_revenue"]
    assert top == [str(h.tuote.rule_id), str(h.kori.rule_id)]
    assert page.labels["rule.incremental_revenue"] == {"Lisätuotto"}
    for arms, want in ((h.kori, kori), (h.tuote, tuote)):
        assert float(page.of("rule.incremental_revenue", arms.rule_id)) == pytest.approx(want[0])
        low = float(page.of("rule.incremental_revenue.low", arms.rule_id))
        high = float(page.of("rule.incremental_revenue.high", arms.rule_id))
        assert (low, high) == (pytest.approx(want[1]), pytest.approx(want[2]))
    # Attributed revenue stays, under its own name.
    assert page.labels["rule.revenue"] == {"Myynti (viimeinen kosketus)"}
    assert float(page.of("rule.revenue", h.kori.rule_id)) == 20000  # o-k1, o-k2
    # The API names it the same way.
    reports = f"/api/v1/workspaces/{h.shop.id}/reports/rules"
    got = (await client.get(reports, headers=h.shop.owner.headers)).json()
    by_rule = {x["rule_id"]: x for x in got}
    for arms, want in ((h.kori, kori), (h.tuote, tuote)):
        x = by_rule[arms.rule_id]
        assert x["incremental_revenue"] == pytest.approx(want[0])
        assert x["incremental_revenue_interval"] == [
            pytest.approx(want[1]),
            pytest.approx(want[2]),
        ]

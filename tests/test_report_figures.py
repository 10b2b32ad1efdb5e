"""The report pages' figures (issue 12): what a rule earned is incremental revenue, one word
means one figure on every page, in the API and in the CSV, and every figure is checked against a
value computed here from the history's own orders by the documented definition."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from tests import figkit as fk

pytestmark = pytest.mark.asyncio


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


# Figures that share a word because they are the same figure over a narrower set (a rule's own
# conversations are conversations), per docs/analytics.md "Glossary".
NARROWER = {
    frozenset({"shop.conversations", "rule.conversations"}),
    frozenset({"shop.csat", "rule.csat"}),
    frozenset({"shop.conversion", "arm.conversion"}),
}


def _csv(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def _column(row: dict[str, str], word: str) -> str:
    """The CSV cell of the column named `word`, with or without its unit in brackets."""
    found = [v for k, v in row.items() if k == word or k.startswith(word + " (")]
    assert len(found) == 1, (word, list(row))
    return found[0]


async def test_one_word_means_one_figure_on_every_page_in_the_api_and_the_csv(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    h = await fk.history(app, client)
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    ws = f"/workspaces/{h.shop.id}"
    kori = h.kori.rule_id
    pages = {}
    for name, path in (
        ("overview", "/overview"),
        ("rules", "/reports/rules"),
        ("rule", f"/reports/rules/{kori}"),
    ):
        r = await client.get(f"{ws}{path}?last=30")
        assert r.status_code == 200, r.text
        assert "Chatit" not in r.text, name  # conversations are "Keskustelut" everywhere
        pages[name] = fk.Figures(r.text)

    # Each figure has one word on every page, and a word is one figure (or the same figure over
    # a narrower set).
    words: dict[str, set[str]] = {}
    for page in pages.values():
        for fig, labels in page.labels.items():
            words.setdefault(fig, set()).update(labels)
    assert {fig: len(w) for fig, w in words.items()} == dict.fromkeys(words, 1), words
    by_word: dict[str, set[str]] = {}
    for fig, w in words.items():
        by_word.setdefault(next(iter(w)), set()).add(fig)
    shared = {frozenset(figs) for figs in by_word.values() if len(figs) > 1}
    assert shared <= NARROWER, shared
    # "Chatit" is not a word of the reports any more: conversations are "Keskustelut".
    assert "Chatit" not in by_word

    # The history by the documented definitions, computed here from its own orders.
    spent = dict(h.orders.values())
    want = {
        "rule.fired": len(h.kori.fired),  # every Kori visitor reached the cart once
        "rule.held_out": len(h.kori.held),
        "rule.conversations": 1,  # the first shown visitor answered its message
        "rule.conversions_window": 2,  # o-k1, o-k2: last touch Kori firing; o-k3, o-k4 held out
        "rule.revenue": 20000,
        "rule.incremental_revenue": _incremental(h, h.kori)[0],
    }
    shown_spent = sum(spent.get(v, 0) for v in h.kori.fired)
    held_spent = sum(spent.get(v, 0) for v in h.kori.held)
    assert want["rule.incremental_revenue"] == pytest.approx(
        (shown_spent / len(h.kori.fired) - held_spent / len(h.kori.held)) * len(h.kori.fired)
    )
    for fig, value in want.items():
        seen = {
            name: float(page.of(fig, kori))
            for name, page in pages.items()
            if any(v.fig == fig for v in page.values)
        }
        assert {"rules", "rule"} <= set(seen), (fig, seen)
        assert seen == dict.fromkeys(seen, pytest.approx(value)), (fig, seen)

    # The API's KPIs and experiment report say the same.
    api = f"/api/v1/workspaces/{h.shop.id}/reports"
    for fig, slug in (
        ("rule.fired", "rule.fired"),
        ("rule.held_out", "rule.held_out"),
        ("rule.conversations", "rule.visitor_replied"),
        ("rule.conversions_window", "rule.conversions_window"),
        ("rule.revenue", "rule.revenue"),
    ):
        r = await client.get(f"{api}/kpis/{slug}", headers=h.shop.owner.headers)
        values = {x["key"]: x["value"] for x in r.json()["values"]}
        assert values[str(kori)] == want[fig], slug
    rules = (await client.get(f"{api}/rules", headers=h.shop.owner.headers)).json()
    (exp,) = [x for x in rules if x["rule_id"] == kori]
    assert exp["incremental_revenue"] == pytest.approx(want["rule.incremental_revenue"])
    # The shop's conversations: the overview's tile and the API.
    r = await client.get(f"{api}/kpis/shop.conversations", headers=h.shop.owner.headers)
    assert float(pages["overview"].of("shop.conversations")) == r.json()["values"][0]["value"] == 1

    # The rules CSV: the same words (with the unit) and the same values, money in euros.
    r = await client.get(f"{ws}/reports/rules?last=30&format=csv")
    (row,) = [x for x in _csv(r.text) if _column(x, "Sääntö") == "Kori"]
    for fig, value in want.items():
        word = next(iter(words[fig]))
        cell = _column(row, word)
        money = fig in ("rule.revenue", "rule.incremental_revenue")
        assert float(cell) * (100 if money else 1) == pytest.approx(value, abs=0.5), fig
    # The rule's page: its experiment table and CSV agree on the groups' people.
    r = await client.get(f"{ws}/reports/rules/{kori}?last=30&format=csv")
    arms = _csv(r.text)
    people = [int(_column(x, "Henkilöt")) for x in arms[:2]]
    assert people == [len(h.kori.fired), len(h.kori.held)]
    assert [pages["rule"].of("arm.people", arm) for arm in ("fired", "held_out")] == [
        str(n) for n in people
    ]


async def test_the_overview_counts_the_same_people_per_day_as_in_its_tile(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    """One customer on two devices the same day is one visitor in the tile, in the funnel and
    in the day's row of the CSV."""
    from tests import factory as f
    from tests import rulekit as rk

    clock = rk.use_clock(app)
    clock.t = fk.noon(1).timestamp()
    shop = await f.shop(app, client)
    for device in ("laptop", "phone"):
        v = rk.Visitor(client, shop, clock, visitor=device, visit="a")
        await v.send("identify", {"customer_id": "asiakas-1"})
        await v.page("/", "landing")
    await rk.Visitor(client, shop, clock, visitor="other", visit="a").page("/", "landing")
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    from tests import chatkit as ck

    client.cookies.set("kohtaamo_session", await ck.cookie(app, shop.owner.user_id))
    page = await client.get(f"/workspaces/{shop.id}/overview?last=7")
    assert fk.Figures(page.text).of("shop.visitors") == "2"
    rows = _csv((await client.get(f"/workspaces/{shop.id}/overview?last=7&format=csv")).text)
    assert sum(int(_column(r, "Kävijät")) for r in rows) == 2


async def test_a_rule_page_names_who_wrote_each_line_and_the_overview_warns_of_selection(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    """The rule's conversation reads in the page's language (no raw 'visitor'/'bot' labels), and
    the chatters comparison says what it cannot prove (PRODUCT.md, "Honest numbers")."""
    h = await fk.history(app, client)
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    ws = f"/workspaces/{h.shop.id}"
    for lang, visitor, bot, caveat in (
        ("fi", "<b>Kävijä</b>", "<b>Säännön viesti</b>", "valikoituminen"),
        ("en", "<b>Visitor</b>", "<b>Rule message</b>", "selection"),
    ):
        client.cookies.set("kohtaamo_lang", lang)
        page = (await client.get(f"{ws}/reports/rules/{h.kori.rule_id}?last=30")).text
        assert visitor in page, lang
        assert bot in page, lang
        assert "<b>visitor</b>" not in page
        assert "<b>bot</b>" not in page
        overview = (await client.get(f"{ws}/overview?last=30")).text
        assert caveat in overview, lang

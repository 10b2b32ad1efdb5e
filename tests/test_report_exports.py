"""Exports and times say what they are (issue 12, item 11): the report pages' CSV name every
column in the page's language with its unit, money in decimal euros, counts as integers and
zeros as "0"; the KPI and attribution CSV of the API carry the unit; the try-a-rule visit list
shows times in the workspace's zone, named, in the workspace's language."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from kohtaamo.analytics import fill
from kohtaamo.analytics.archive import Archive
from kohtaamo.kit.clock import utcnow
from tests import factory as f
from tests import figkit as fk
from tests import rulekit as rk

pytestmark = pytest.mark.asyncio
INTEGER = re.compile(r"^-?\d+$")
MONEY = re.compile(r"^-?\d+\.\d\d$")


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


async def _get(client: httpx.AsyncClient, url: str) -> str:
    r = await client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv"), r.headers
    return r.text


async def test_report_csv_columns_carry_the_page_words_units_and_whole_counts(
    app: FastAPI, client: httpx.AsyncClient, archive: Archive
) -> None:
    h = await fk.history(app, client)
    await fill.fill(app.state.sessionmaker, archive, settle=0)
    ws = f"/workspaces/{h.shop.id}"

    header, rows = _table(await _get(client, f"{ws}/overview?last=30&format=csv"))
    assert header == [
        "Päivä (Europe/Helsinki)", "Kävijät", "Keskustelut", "Tilaukset", "Myynti (EUR)",
    ]  # fmt: skip
    assert len(rows) == 30
    for row in rows:
        assert all(INTEGER.match(x) for x in row[1:4]), row  # "28", never "28.0"; zero is "0"
        assert MONEY.match(row[4]), row
    by_day = {r[0]: r for r in rows}
    # Orders by the day they were placed in Helsinki: o-k1 … o-t1 on day0 + 1 (o-x cancelled).
    day = (h.day0 + timedelta(days=1)).astimezone(ZoneInfo("Europe/Helsinki")).date().isoformat()
    assert by_day[day][3:] == ["5", f"{(10000 + 10000 + 50000 + 50000 + 8000) / 100:.2f}"]
    assert sum(int(r[3]) for r in rows) == 5

    header, rows = _table(await _get(client, f"{ws}/reports/rules?last=30&format=csv"))
    col = {name: i for i, name in enumerate(header)}
    assert {"Säännön id", "Sääntö", "Lauennut", "Keskustelut", "Lisätuotto (EUR)"} <= set(col)
    assert "Myynti (viimeinen kosketus) (EUR)" in col
    tuote = next(r for r in rows if r[col["Sääntö"]] == "Tuote")
    assert tuote[col["Keskustelut"]] == "0"  # zero is a zero, not an empty cell
    assert tuote[col["Lauennut"]] == str(len(h.tuote.fired))
    assert tuote[col["Myynti (viimeinen kosketus) (EUR)"]] == "80.00"
    assert MONEY.match(tuote[col["Lisätuotto (EUR)"]])

    header, rows = _table(await _get(client, f"{ws}/reports/agents?last=30&format=csv"))
    assert header[:3] == ["Käyttäjän id", "Asiakaspalvelija", "Tiimi"]
    assert "Keskustelut" in header
    assert "Ensivastausaika (mediaani) (s)" in header
    assert rows[0][header.index("Keskustelut")] == "1"

    header, rows = _table(await _get(client, f"{ws}/reports/funnel?last=30&format=csv"))
    assert header == ["Vaihe", "Ihmisiä", "Edellisestä (%)"]
    assert [r[0] for r in rows][:3] == [
        "Tietoisuus: katsoi sivua", "Harkinta: ostoskori tai kassa", "Osto: tilasi",
    ]  # fmt: skip
    assert all(INTEGER.match(r[1]) for r in rows)

    # In English, the same columns in English.
    client.cookies.set("kohtaamo_lang", "en")
    header, _ = _table(await _get(client, f"{ws}/overview?last=30&format=csv"))
    assert header == [
        "Day (Europe/Helsinki)",
        "Visitors",
        "Conversations",
        "Orders",
        "Revenue (EUR)",
    ]
    header, _ = _table(
        await _get(client, f"{ws}/reports/rules/{h.kori.rule_id}?last=30&format=csv")
    )
    assert header[:3] == ["Group", "Variant", "People"]
    assert "Revenue / person (EUR)" in header

    # The API's CSV: money as decimal euros with the currency in the column's name.
    api = f"/api/v1/workspaces/{h.shop.id}/reports"
    span = {"start": (h.day0 - timedelta(days=1)).isoformat(), "end": utcnow().isoformat()}
    r = await client.get(
        f"{api}/kpis/rule.revenue", params={**span, "format": "csv"}, headers=h.shop.owner.headers
    )
    header, rows = _table(r.text)
    assert header == ["rule", "rule.revenue (EUR)"]
    assert dict(rows) == {str(h.kori.rule_id): "200.00", str(h.tuote.rule_id): "80.00"}
    r = await client.get(
        f"{api}/kpis/rule.fired", params={**span, "format": "csv"}, headers=h.shop.owner.headers
    )
    assert dict(_table(r.text)[1])[str(h.kori.rule_id)] == str(len(h.kori.fired))
    r = await client.get(f"{api}/attribution?format=csv", headers=h.shop.owner.headers)
    header, rows = _table(r.text)
    assert "revenue (EUR)" in header
    assert "placed_at (Europe/Helsinki)" in header
    row = next(x for x in rows if x[0] == "o-k3")
    assert row[header.index("revenue (EUR)")] == "500.00"
    placed = (h.day0 + timedelta(days=1)).astimezone(ZoneInfo("Europe/Helsinki")).isoformat()
    assert row[header.index("placed_at (Europe/Helsinki)")] == placed


async def test_the_try_a_rule_visit_list_is_in_the_workspace_zone_and_language(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    clock = rk.use_clock(app)
    at = fk.noon(1)
    clock.t = at.timestamp()
    shop = await f.shop(app, client, owner_email="owner@kauppa.fi")
    await rk.Visitor(client, shop, clock, visitor="v-1", visit="s-1").page("/", "landing")
    from tests import chatkit as ck

    client.cookies.set("kohtaamo_session", await ck.cookie(app, shop.owner.user_id))
    page = await client.get(f"/workspaces/{shop.id}/rules/try")
    assert page.status_code == 200, page.text
    local = at.astimezone(ZoneInfo("Europe/Helsinki"))
    option = re.search(r'<option value="v-1\|s-1"[^>]*>([^<]*)</option>', page.text)
    assert option, page.text
    shown = option[1]
    assert local.strftime("%H:%M") in shown, shown  # 14:00 in Helsinki, not 12:00 UTC
    assert str(local.tzname()) in shown, shown  # the zone is named
    assert "Kokeile sääntöä" in page.text
    # An English workspace (no language chosen in the browser) shows it in English.
    r = await client.patch(
        f"/api/v1/workspaces/{shop.id}",
        json={"locale": "en", "timezone": "America/New_York"},
        headers=shop.owner.headers,
    )
    assert r.status_code == 200, r.text
    page = await client.get(f"/workspaces/{shop.id}/rules/try")
    assert "Try a rule" in page.text
    option = re.search(r'<option value="v-1\|s-1"[^>]*>([^<]*)</option>', page.text)
    assert option, page.text
    ny = at.astimezone(ZoneInfo("America/New_York"))
    assert ny.strftime("%H:%M") in option[1], option[1]
    assert str(ny.tzname()) in option[1], option[1]

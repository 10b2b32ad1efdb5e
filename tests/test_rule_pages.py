"""Rule pages: list with templates, the form (errors keep what was typed), try-a-rule trace."""

from __future__ import annotations

import json
import re

import httpx
from fastapi import FastAPI

from tests import factory as f
from tests import rulekit as rk
from tests.test_pages import _csrf, _log_in


async def _owner_session(app: FastAPI, client: httpx.AsyncClient) -> tuple[f.Shop, str]:
    shop = await f.shop(app, client, owner_email="owner@kauppa.fi")
    r = await _log_in(client, "owner@kauppa.fi")
    assert r.status_code == 303, r.text
    client.cookies.set("kohtaamo_lang", "fi")
    page = await client.get(f"/workspaces/{shop.id}/rules")
    assert page.status_code == 200, page.text
    return shop, _csrf(page.text)


async def test_templates_install_from_the_list_page_in_finnish(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, csrf = await _owner_session(app, client)
    page = await client.get(f"/workspaces/{shop.id}/rules")
    assert "Avaussäännöt" in page.text
    assert "Sama lomakekenttä virheellinen kahdesti" in page.text
    r = await client.post(
        f"/workspaces/{shop.id}/rules/templates",
        data={"csrf_token": csrf, "slug": "cart-idle"},
    )
    assert r.status_code == 303
    page = await client.get(f"/workspaces/{shop.id}/rules")
    assert "1 sääntöä asennettu." in page.text
    assert "Ei etenemistä ostoskorissa 90 s" in page.text
    r = await client.post(
        f"/workspaces/{shop.id}/rules/templates", data={"csrf_token": csrf, "slug": "all"}
    )
    rules = (
        await client.get(f"/api/v1/workspaces/{shop.id}/rules", headers=shop.owner.headers)
    ).json()
    assert len(rules) == 17
    assert all(r["name"] and r["holdout_share"] == 0.1 for r in rules)


async def test_form_error_names_the_field_and_keeps_the_typed_values(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, csrf = await _owner_session(app, client)
    form = {
        "csrf_token": csrf,
        "name": "Kassan <b>ongelma</b>",
        "condition": '{"and": [{"==": [{"var": "page.type"}, "checkout"]}, {"oops": [1]}]}',
        "message_fi": "Voinko auttaa kassalla?",
        "goal": "sales",
        "priority": "70",
        "holdout_percent": "15",
        "cap_per_visit": "1",
        "enabled": "on",
    }
    r = await client.post(f"/workspaces/{shop.id}/rules/new", data=form)
    assert r.status_code == 422
    assert "condition.and[1].oops" in r.text
    assert "Voinko auttaa kassalla?" in r.text  # nothing typed is lost
    assert "Kassan &lt;b&gt;ongelma&lt;/b&gt;" in r.text  # shown as text
    form["condition"] = '{"==": [{"var": "page.type"}, "checkout"]}'
    form["hours_from"], form["hours_to"] = "09:00", "21:00"
    form["days"] = ["1", "2", "3", "4", "5"]
    form["variant_0_key"], form["variant_0_fi"] = "A", "Hei!"
    form["variant_1_key"], form["variant_1_fi"], form["variant_1_weight"] = "B", "Moi!", "2"
    r = await client.post(f"/workspaces/{shop.id}/rules/new", data=form)
    assert r.status_code == 303, r.text
    [rule] = (
        await client.get(f"/api/v1/workspaces/{shop.id}/rules", headers=shop.owner.headers)
    ).json()
    assert rule["holdout_share"] == 0.15
    assert rule["active_hours"] == {"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "21:00"}
    assert [(v["key"], v["weight"]) for v in rule["variants"]] == [("A", 1.0), ("B", 2.0)]
    edit = await client.get(f"/workspaces/{shop.id}/rules/{rule['id']}")
    assert edit.status_code == 200
    assert 'value="Moi!"' in edit.text
    form["priority"] = "abc"
    r = await client.post(f"/workspaces/{shop.id}/rules/{rule['id']}", data=form)
    assert r.status_code == 422
    assert "priority" in r.text


async def test_toggle_turns_a_rule_off(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, csrf = await _owner_session(app, client)
    rule = await rk.create(client, shop, condition=True)
    r = await client.post(
        f"/workspaces/{shop.id}/rules/{rule['id']}/toggle", data={"csrf_token": csrf}
    )
    assert r.status_code == 303
    got = await client.get(
        f"/api/v1/workspaces/{shop.id}/rules/{rule['id']}", headers=shop.owner.headers
    )
    assert got.json()["enabled"] is False


async def test_try_page_shows_the_trace_of_a_live_visit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, csrf = await _owner_session(app, client)
    clock = rk.use_clock(app)
    v = rk.Visitor(client, shop, clock)
    await v.send("cart_add", {"product_id": "p", "unit_price": 2500})
    await v.page("/kori", "cart")
    condition = {
        "and": [{"==": [{"var": "page.type"}, "cart"]}, {">=": [{"var": "page.idle_seconds"}, 90]}]
    }
    page = await client.get(f"/workspaces/{shop.id}/rules/try")
    assert v.visitor in page.text  # the recent visit is offered
    r = await client.post(
        f"/workspaces/{shop.id}/rules/try",
        data={
            "csrf_token": csrf,
            "condition": json.dumps(condition),
            "visit": f"{v.visitor}|{v.visit}",
        },
    )
    assert r.status_code == 200, r.text
    assert "Ei täyty nyt" in r.text
    steps = re.findall(r'<code class="op">([^<]+)</code>', r.text)
    assert steps == ["and", "==", "var", "&gt;=", "var"]
    r = await client.post(
        f"/workspaces/{shop.id}/rules/try",
        data={"csrf_token": csrf, "condition": "{not json"},
    )
    assert r.status_code == 422
    assert "condition:" in r.text


async def test_agent_sees_rules_but_cannot_save(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop = await f.shop(app, client)
    await f.user(app, client, "agentti@kauppa.fi", workspace_id=shop.id)
    rule = await rk.create(client, shop, condition=True)
    await _log_in(client, "agentti@kauppa.fi")
    page = await client.get(f"/workspaces/{shop.id}/rules/{rule['id']}")
    assert page.status_code == 200
    assert "<fieldset disabled>" in page.text
    csrf = _csrf(page.text)
    r = await client.post(
        f"/workspaces/{shop.id}/rules/{rule['id']}",
        data={"csrf_token": csrf, "name": "x", "condition": "true", "message_fi": "x"},
    )
    assert r.status_code == 403


async def test_form_keeps_every_variant_and_the_persona_title(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, csrf = await _owner_session(app, client)
    rule = await rk.create(
        client,
        shop,
        condition=True,
        action={
            "messages": {"fi": "Hei"},
            "persona": {"name": "Anna", "title": "Myyjä"},
        },
        variants=[{"key": k, "weight": 1, "messages": {"fi": k}} for k in "ABCDE"],
    )
    page = await client.get(f"/workspaces/{shop.id}/rules/{rule['id']}")
    assert 'value="Myyjä"' in page.text
    assert page.text.count('name="variant_') == 6 * 4  # five filled rows and an empty one
    # Saved back unchanged, as a person pressing Save would.
    fields = dict(re.findall(r'<input name="([^"]+)" value="([^"]*)"', page.text))
    form = {k: v for k, v in fields.items() if v}
    form |= {
        "csrf_token": csrf,
        "condition": "true",
        "message_fi": "Hei",
        "enabled": "on",
        "days": ["1", "2", "3", "4", "5", "6", "7"],
    }
    r = await client.post(f"/workspaces/{shop.id}/rules/{rule['id']}", data=form)
    assert r.status_code == 303, r.text
    saved = (
        await client.get(
            f"/api/v1/workspaces/{shop.id}/rules/{rule['id']}", headers=shop.owner.headers
        )
    ).json()
    assert [v["key"] for v in saved["variants"]] == list("ABCDE")
    assert saved["action"]["persona"] == {"name": "Anna", "title": "Myyjä", "automatic": False}


async def test_odd_form_input_is_a_4xx_not_a_crash(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, csrf = await _owner_session(app, client)
    base = {"csrf_token": csrf, "name": "x", "message_fi": "x", "enabled": "on"}
    r = await client.post(
        f"/workspaces/{shop.id}/rules/new", data={**base, "condition": "[" * 100_000}
    )
    assert r.status_code == 422
    r = await client.post(
        f"/workspaces/{shop.id}/rules/new", data={**base, "condition": "true", "days": "²"}
    )
    assert r.status_code in (303, 422)
    r = await client.post(
        f"/workspaces/{shop.id}/rules/try", data={"csrf_token": csrf, "condition": "[" * 100_000}
    )
    assert r.status_code == 422

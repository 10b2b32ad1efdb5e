"""The rule form of the admin pages <-> the API's RuleCreate/RuleUpdate payload."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from kohtaamo.rules.models import Rule

VARIANT_ROWS = 3  # empty rows the form offers (more when a rule already has more variants)
MAX_VARIANTS = 10
DAYS = (1, 2, 3, 4, 5, 6, 7)


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _digit(value: object) -> bool:
    text = str(value)
    return text.isascii() and text.isdigit()  # "²".isdigit() is true, int("²") fails


def _int(form: FormData, name: str, default: int | None = None) -> int | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise FormError(name, "must be a whole number") from None


def _json(form: FormData, name: str) -> Any:
    raw = str(form.get(name) or "").strip()
    if not raw:
        raise FormError(name, "is required (true means 'always')")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FormError(
            name, f"is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise FormError(name, "nests too deep") from None


def to_payload(form: FormData) -> dict[str, Any]:
    """What the API would be sent; checked by RuleCreate/RuleUpdate like any API call."""
    messages = {
        loc: str(form.get(f"message_{loc}") or "").strip()
        for loc in ("fi", "en")
        if str(form.get(f"message_{loc}") or "").strip()
    }
    action: dict[str, Any] = {
        "type": form.get("action_type") or "open_chat",
        "messages": messages,
        "offline": form.get("offline") or "leave_message",
    }
    if str(form.get("product_id") or "").strip():
        action["product_id"] = str(form.get("product_id")).strip()
    persona = str(form.get("persona") or "").strip()
    if persona:
        action["persona"] = {"name": persona, "automatic": form.get("persona_automatic") == "on"}
        title = str(form.get("persona_title") or "").strip()
        if title:
            action["persona"]["title"] = title
    days = [int(str(d)) for d in form.getlist("days") if _digit(d)]
    start, end = str(form.get("hours_from") or ""), str(form.get("hours_to") or "")
    hours = None
    if start or end or (days and len(days) < 7):
        hours = {"days": days or list(DAYS), "from": start or "00:00", "to": end or "24:00"}
    variants = []
    for i in range(MAX_VARIANTS):
        key = str(form.get(f"variant_{i}_key") or "").strip()
        if not key:
            continue
        texts = {
            loc: str(form.get(f"variant_{i}_{loc}") or "").strip()
            for loc in ("fi", "en")
            if str(form.get(f"variant_{i}_{loc}") or "").strip()
        }
        weight = str(form.get(f"variant_{i}_weight") or "1").strip()
        try:
            w = float(weight)
        except ValueError:
            raise FormError(f"variant_{i}_weight", "must be a number") from None
        variants.append({"key": key, "weight": w, "messages": texts})
    holdout = str(form.get("holdout_percent") or "10").strip()
    try:
        share = round(float(holdout) / 100, 4)
    except ValueError:
        raise FormError("holdout_percent", "must be a number") from None
    return {
        "name": str(form.get("name") or "").strip(),
        "condition": _json(form, "condition"),
        "action": action,
        "goal": form.get("goal") or "sales",
        "priority": _int(form, "priority", 50),
        "cap_per_visit": _int(form, "cap_per_visit", 1),
        "cap_days": _int(form, "cap_days"),
        "active_hours": hours,
        "holdout_share": share,
        "variants": variants,
        "min_free_agents": _int(form, "min_free_agents", 0),
        "is_default": form.get("is_default") == "on",
        "enabled": form.get("enabled") == "on",
    }


def describe(exc: ValidationError) -> FormError:
    e = exc.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    return FormError(loc or "form", e["msg"])


def values_of(rule: Rule | None, form: FormData | None = None) -> dict[str, Any]:
    """What the form shows: the submitted values after an error (nothing typed is lost)."""
    if form is not None:
        out: dict[str, Any] = {k: form.get(k) for k in form}
        out["days"] = [int(str(d)) for d in form.getlist("days") if _digit(d)]
        return out
    if rule is None:
        return {
            "name": "",
            "goal": "sales",
            "priority": 50,
            "action_type": "open_chat",
            "offline": "leave_message",
            "condition": '{"and": [\n  {"==": [{"var": "page.type"}, "cart"]},\n'
            '  {">=": [{"var": "page.idle_seconds"}, 90]}\n]}',
            "cap_per_visit": 1,
            "holdout_percent": 10,
            "min_free_agents": 0,
            "enabled": "on",
            "days": list(DAYS),
        }
    action = rule.action or {}
    hours = rule.active_hours or {}
    out = {
        "name": rule.name,
        "goal": rule.goal,
        "priority": rule.priority,
        "action_type": action.get("type", "open_chat"),
        "message_fi": (action.get("messages") or {}).get("fi", ""),
        "message_en": (action.get("messages") or {}).get("en", ""),
        "product_id": action.get("product_id", ""),
        "persona": (action.get("persona") or {}).get("name", ""),
        "persona_title": (action.get("persona") or {}).get("title") or "",
        "persona_automatic": "on" if (action.get("persona") or {}).get("automatic") else "",
        "offline": action.get("offline", "leave_message"),
        "condition": json.dumps(rule.condition, indent=2, ensure_ascii=False),
        "cap_per_visit": rule.cap_per_visit,
        "cap_days": rule.cap_days or "",
        "hours_from": hours.get("from", ""),
        "hours_to": "" if hours.get("to") in (None, "00:00") else hours["to"],
        "days": hours.get("days") or list(DAYS),
        "holdout_percent": round(rule.holdout_share * 100, 2),
        "min_free_agents": rule.min_free_agents,
        "is_default": "on" if rule.is_default else "",
        "enabled": "on" if rule.enabled else "",
    }
    for i, v in enumerate(rule.variants[:MAX_VARIANTS]):
        out[f"variant_{i}_key"] = v["key"]
        out[f"variant_{i}_weight"] = v.get("weight", 1)
        for loc in ("fi", "en"):
            out[f"variant_{i}_{loc}"] = (v.get("messages") or {}).get(loc, "")
    return out

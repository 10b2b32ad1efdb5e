"""Numbers as people read them, in Finnish or English: money from minor units, shares, times."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from kohtaamo.kit.money import exponent

NBSP = "\u00a0"
DASH = "\u2013"  # what an undefined figure shows
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "SEK": "kr", "NOK": "kr", "DKK": "kr"}


def _group(text: str, locale: str) -> str:
    """'1234567.5' → '1 234 567,5' (fi) or '1,234,567.5' (en)."""
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    parts: list[str] = []
    while len(whole) > 3:
        parts.insert(0, whole[-3:])
        whole = whole[:-3]
    parts.insert(0, whole)
    sep, dec = (NBSP, ",") if locale == "fi" else (",", ".")
    return sign + sep.join(parts) + (dec + frac if frac else "")


def number(value: float | int | None, locale: str, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return _group(f"{value:.{digits}f}", locale)


def money(minor: float | int | None, currency: str, locale: str, *, cents: bool = True) -> str:
    if minor is None or (isinstance(minor, float) and math.isnan(minor)):
        return DASH
    exp = exponent(currency)
    amount = minor / (10**exp)
    text = number(amount, locale, exp if cents else 0)
    symbol = SYMBOLS.get(currency, currency)
    return f"{text}{NBSP}{symbol}" if locale == "fi" or len(symbol) > 1 else f"{symbol}{text}"


def share(value: float | None, locale: str, digits: int = 1) -> str:
    """0.1234 → '12,3 %' (fi) or '12.3%' (en)."""
    if value is None or math.isnan(value):
        return DASH
    text = number(value * 100, locale, digits)
    return f"{text}{NBSP}%" if locale == "fi" else f"{text}%"


def points(value: float | None, locale: str) -> str:
    """A difference of shares in percentage points, signed: '+1,2 %-yks.' / '+1.2 pp'."""
    if value is None or math.isnan(value):
        return DASH
    text = number(value * 100, locale, 1)
    sign = "+" if value > 0 else ""
    return f"{sign}{text}{NBSP}%-yks." if locale == "fi" else f"{sign}{text}{NBSP}pp"


def seconds(value: float | None, locale: str) -> str:
    if value is None or math.isnan(value):
        return DASH
    s = round(value)
    if s < 60:
        return f"{s}{NBSP}s"
    if s < 3600:
        return f"{s // 60}{NBSP}min {s % 60}{NBSP}s"
    return f"{s // 3600}{NBSP}h {(s % 3600) // 60}{NBSP}min"


def when(at: datetime, zone: str, locale: str, *, year: bool = True) -> str:
    """A moment in the workspace's zone, the zone named: '5.12.2026 14:00 EET' (fi) or
    '2026-12-05 14:00 EET' (en). A naive time is UTC."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo("UTC"))
    local = aware.astimezone(ZoneInfo(zone))
    if locale == "fi":
        text = local.strftime("%-d.%-m.%Y %H:%M" if year else "%-d.%-m. %H:%M")
    else:
        text = local.strftime("%Y-%m-%d %H:%M" if year else "%b %-d %H:%M")
    return f"{text} {local.tzname()}"

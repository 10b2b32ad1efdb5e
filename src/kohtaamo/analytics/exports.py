"""The report pages' CSV: columns named with the page's words in its language and the unit
(money in the shop's currency as decimal major units, shares and points in per cent, times in
the workspace's zone with its offset), counts as integers, zero as "0", and undefined as empty."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kohtaamo.analytics.glossary import FIGURES, Unit
from kohtaamo.kit.clock import as_utc
from kohtaamo.kit.money import exponent
from kohtaamo.web import i18n

_PER_CENT = {"share": "%", "points": {"fi": "%-yks.", "en": "pp"}}


@dataclass(frozen=True, slots=True)
class Col:
    """A column: a figure of the glossary (`fig`), or a text key with its unit."""

    name: str
    unit: Unit | None = None  # None: the figure's own

    def unit_of(self) -> Unit:
        if self.unit is not None:
            return self.unit
        return FIGURES[self.name].unit

    def header(self, locale: str, currency: str, zone: str) -> str:
        word = i18n.translate(locale, f"fig.{self.name}" if self.name in FIGURES else self.name)
        unit = self.unit_of()
        if unit == "money":
            return f"{word} ({currency})"
        if unit == "share":
            return f"{word} (%)"
        if unit == "points":
            points = _PER_CENT["points"]
            assert isinstance(points, dict)
            return f"{word} ({points.get(locale, 'pp')})"
        if unit == "seconds":
            return f"{word} (s)"
        if unit in ("date", "time"):
            return f"{word} ({zone})"
        return word


@dataclass(frozen=True, slots=True)
class Table:
    locale: str
    currency: str
    zone: str

    def cell(self, value: Any, unit: Unit) -> str:
        if unit == "count":
            # A count with nothing to count is zero, and a count is whole.
            return str(round(value)) if value is not None else "0"
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if unit == "money":
            exp = exponent(self.currency)
            major = Decimal(str(value)) / (10**exp)
            return str(major.quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_UP))
        if unit in ("share", "points"):
            return str(Decimal(str(value * 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        if unit == "p":
            return str(Decimal(str(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
        if unit == "seconds":
            return str(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
        if unit == "time":
            assert isinstance(value, datetime)
            return as_utc(value).astimezone(ZoneInfo(self.zone)).isoformat(timespec="seconds")
        if unit == "date":
            assert isinstance(value, date)
            return value.isoformat()
        return str(value)

    def rows(
        self, cols: Sequence[Col], rows: Iterable[Sequence[Any]]
    ) -> tuple[list[str], list[list[str]]]:
        header = [c.header(self.locale, self.currency, self.zone) for c in cols]
        units = [c.unit_of() for c in cols]
        body = [[self.cell(v, u) for v, u in zip(row, units, strict=True)] for row in rows]
        return header, body

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

from kohtaamo.analytics import metrics
from kohtaamo.analytics.glossary import FIGURES, Unit
from kohtaamo.kit.clock import as_utc
from kohtaamo.kit.money import exponent
from kohtaamo.web import i18n


@dataclass(frozen=True, slots=True)
class Col:
    """A column: a figure of the glossary (`fig`), or a text key with its unit."""

    name: str
    unit: Unit | None = None  # None: the figure's own

    def unit_of(self) -> Unit:
        if self.unit is not None:
            return self.unit
        if self.name.startswith("kpi:"):
            kpi = metrics.REGISTRY[self.name[4:]]
            return "number" if kpi.unit == "messages" else kpi.unit
        return FIGURES[self.name].unit

    def word(self, locale: str) -> str:
        if self.name.startswith("kpi:"):
            return metrics.REGISTRY[self.name[4:]].name[locale]
        return i18n.translate(locale, f"fig.{self.name}" if self.name in FIGURES else self.name)

    def header(self, locale: str, currency: str, zone: str) -> str:
        return named(self.word(locale), self.unit_of(), locale, currency, zone)


def named(word: str, unit: Unit, locale: str, currency: str, zone: str) -> str:
    """A column's name with its unit: "Myynti (EUR)", "Konversio (%)", "Päivä (Europe/Helsinki)"."""
    suffix = {
        "money": currency,
        "share": "%",
        "points": "%-yks." if locale == "fi" else "pp",
        "seconds": "s",
        "date": zone,
        "time": zone,
    }.get(unit)
    return f"{word} ({suffix})" if suffix else word


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
        if unit in ("seconds", "number"):
            return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
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

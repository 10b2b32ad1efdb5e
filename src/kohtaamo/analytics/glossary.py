"""One word per figure: each figure the report pages, the API and the CSV exports show, with its
word and its definition in Finnish and English (docs/analytics.md, "Glossary"). Pages label a
figure with `t("fig." + name)`, explain it with `t("def." + name)`, and CSV columns are the same
word with the unit (`exports.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kohtaamo.web import i18n

Unit = Literal[
    "count", "money", "share", "points", "p", "text", "id", "date", "time", "seconds", "number"
]


@dataclass(frozen=True, slots=True)
class Figure:
    unit: Unit
    fi: str
    en: str
    fi_def: str = ""
    en_def: str = ""


# fmt: off
FIGURES: dict[str, Figure] = {
    "shop.visitors": Figure(
        "count", "Kävijät", "Visitors",
        "Ihmiset, jotka katsoivat sivua aikavälillä (asiakkaan laitteet ovat yksi ihminen).",
        "People who viewed a page in the range (a customer's devices are one person)."),
    "shop.conversations": Figure(
        "count", "Keskustelut", "Conversations",
        "Aikavälillä avatut keskustelut.", "Conversations opened in the range."),
    "shop.orders": Figure(
        "count", "Tilaukset", "Orders",
        "Aikavälillä tehdyt tilaukset, perutut pois (palvelin, verkkokauppa-alusta tai widget).",
        "Orders placed in the range, not cancelled (server, shop platform or widget)."),
    "shop.revenue": Figure(
        "money", "Myynti", "Revenue",
        "Näiden tilausten arvo hyvitysten jälkeen.", "Those orders' value less refunds."),
    "shop.conversion": Figure(
        "share", "Konversio", "Conversion",
        "Kävijöistä se osuus, joka tilasi aikavälillä.",
        "The share of the visitors who ordered in the range."),
    "shop.csat": Figure(
        "share", "Tyytyväisyys", "Satisfaction",
        "👍 arvioiduista keskusteluista.", "👍 of the rated conversations."),
    "rule.fired": Figure(
        "count", "Lauennut", "Fired",
        "Kerrat, jotka sääntö laukesi aikavälillä (näytettiin).",
        "Times the rule fired in the range (was shown)."),
    "rule.held_out": Figure(
        "count", "Vertailuryhmässä", "Held out",
        "Kerrat, jotka sääntö olisi lauennut mutta kävijä oli vertailuryhmässä.",
        "Times the rule would have fired but the visitor was in the control group."),
    "rule.conversations": Figure(
        "count", "Keskustelut", "Conversations",
        "Säännön avaamat keskustelut aikavälillä (kävijä vastasi sen viestiin).",
        "Conversations the rule opened in the range (the visitor answered its message)."),
    "rule.conversions_window": Figure(
        "count", "Tilaukset (viimeinen kosketus)", "Orders (last touch)",
        "Aikavälillä tehdyt tilaukset, joiden viimeinen kosketus attribuutioikkunassa oli "
        "tämän säännön laukeaminen.",
        "Orders placed in the range whose last touch within the attribution window was this "
        "rule firing."),
    "rule.conversions_same_visit": Figure(
        "count", "samalla käynnillä", "in the same visit",
        "Niistä ne, jotka tehtiin samalla käynnillä.", "Of those, the ones in the same visit."),
    "rule.revenue": Figure(
        "money", "Myynti (viimeinen kosketus)", "Revenue (last touch)",
        "Näiden tilausten arvo hyvitysten jälkeen: sääntöön kirjattu, ei välttämättä sen "
        "aiheuttama.",
        "Those orders' value less refunds: credited to the rule, not necessarily caused by it."),
    "rule.aov": Figure(
        "money", "Keskiostos (viimeinen kosketus)", "Average order (last touch)",
        "Myynti (viimeinen kosketus) jaettuna tilauksilla (viimeinen kosketus).",
        "Revenue (last touch) divided by orders (last touch)."),
    "rule.incremental_revenue": Figure(
        "money", "Lisätuotto", "Incremental revenue",
        "Mitä sääntö tuotti: (myynti per henkilö, näytetyt miinus vertailuryhmä) kertaa "
        "näytetyt henkilöt, 95 %:n väleineen. Negatiivinen: vertailuryhmä osti enemmän.",
        "What the rule earned: (revenue per person, shown minus control) times the people "
        "shown, with its 95 % interval. Negative: the control group bought more."),
    "rule.csat": Figure(
        "share", "Tyytyväisyys", "Satisfaction",
        "👍 säännön avaamista arvioiduista keskusteluista.",
        "👍 of the rated conversations the rule opened."),
    "rule.uplift": Figure(
        "points", "Nousu", "Uplift",
        "Näytettyjen konversio miinus vertailuryhmän konversio (henkilöt, joille sääntö tuli "
        "ensi kertaa aikavälillä), prosenttiyksikköinä.",
        "Conversion of the people shown minus the control group's (people first reached in "
        "the range), in percentage points."),
    "arm.people": Figure(
        "count", "Henkilöt", "People",
        "Ihmiset, joille sääntö tuli (tai olisi tullut) ensi kertaa aikavälillä; kukin pysyy "
        "ryhmässään.",
        "People the rule first reached (or would have) in the range; each stays in their group."),
    "arm.converted": Figure(
        "count", "Tilanneet", "Ordered",
        "Ryhmän henkilöt, jotka tilasivat attribuutioikkunan sisällä ensi kerrasta.",
        "People of the group who ordered within the attribution window of their first time."),
    "arm.conversion": Figure(
        "share", "Konversio", "Conversion",
        "Ryhmän henkilöistä tilanneiden osuus (95 %:n väli).",
        "The share of the group's people who ordered (95 % interval)."),
    "arm.orders": Figure(
        "count", "Ryhmän tilaukset", "Group's orders",
        "Ryhmän henkilöiden tilaukset ikkunan sisällä.",
        "The group's people's orders within the window."),
    "arm.revenue": Figure(
        "money", "Ryhmän myynti", "Group's revenue",
        "Niiden arvo hyvitysten jälkeen.", "Their value less refunds."),
    "arm.rpv": Figure(
        "money", "Myynti / henkilö", "Revenue / person",
        "Ryhmän myynti jaettuna ryhmän henkilöillä.", "The group's revenue divided by its people."),
}
# fmt: on


def _register() -> None:
    for lang in ("fi", "en"):
        texts: dict[str, str] = {}
        for name, f in FIGURES.items():
            texts[f"fig.{name}"] = f.fi if lang == "fi" else f.en
            texts[f"def.{name}"] = f.fi_def if lang == "fi" else f.en_def
        i18n.register(lang, texts)


_register()

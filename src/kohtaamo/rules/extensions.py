"""Shop-specific JsonLogic operators (documented in docs/rules.md, "Extensions").

Registered once on import; `jsonlogic.check` knows them from then on, so a rule using one is
accepted when saved and compiled like any built-in operator.
"""

from __future__ import annotations

import re
from fnmatch import translate
from functools import lru_cache
from typing import Any

import regex as safe_re
from prometheus_client import Counter

from kohtaamo.rules import jsonlogic

MAX_TEXT = 4096
# A regular expression gets this long on one text, then counts as not matching: a pattern with
# catastrophic backtracking ("^(a+)+$") must not stall the worker for every visitor.
REGEX_SECONDS = 0.005
REGEX_TIMEOUTS = Counter(
    "kohtaamo_rule_regex_timeouts_total", "Rule regular expressions stopped at their time limit"
)


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    try:
        return safe_re.compile(pattern)
    except (safe_re.error, re.error):
        return None


def glob(pattern: Any = None, value: Any = None, *_: Any) -> bool:
    """`{"glob": ["/tuotteet/*", {"var": "page.path"}]}`: shell-style match of the whole text."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    return _glob(pattern).match(value[:MAX_TEXT]) is not None


def regex(pattern: Any = None, value: Any = None, *_: Any) -> bool:
    """`{"regex": ["^/(kassa|checkout)", {"var": "page.path"}]}`: a search anywhere in the text."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    compiled = _regex(pattern)
    if compiled is None:
        return False
    try:
        return compiled.search(value[:MAX_TEXT], timeout=REGEX_SECONDS) is not None
    except TimeoutError:
        REGEX_TIMEOUTS.inc()
        return False


def contains(items: Any = None, value: Any = None, *_: Any) -> bool:
    """`{"contains": [{"var": "cart.categories"}, "kamerat"]}`: list membership (strict)."""
    if not isinstance(items, list):
        return False
    return any(type(x) is type(value) and x == value for x in items)


def contains_any(items: Any = None, values: Any = None, *_: Any) -> bool:
    """`{"contains_any": [{"var": "cart.product_ids"}, ["p1", "p2"]]}`: any common item."""
    if not isinstance(items, list) or not isinstance(values, list):
        return False
    return any(contains(items, v) for v in values)


def _minutes(hhmm: Any) -> int | None:
    if not isinstance(hhmm, str) or not re.fullmatch(r"\d{2}:\d{2}", hhmm):
        return None
    h, m = int(hhmm[:2]), int(hhmm[3:])
    return h * 60 + m if h < 24 and m < 60 else None


def time_between(start: Any = None, end: Any = None, at: Any = None, *_: Any) -> bool:
    """`{"time_between": ["09:00", "17:00", {"var": "now.time"}]}`: start <= at < end, local time.

    A window whose end is before its start runs over midnight ("22:00" to "06:00"); one whose
    end equals its start is the whole day.
    """
    s, e, t = _minutes(start), _minutes(end), _minutes(at)
    if s is None or e is None or t is None:
        return False
    if s == e:
        return True
    return s <= t < e if s <= e else t >= s or t < e


EXTENSIONS = {
    "glob": glob,
    "regex": regex,
    "contains": contains,
    "contains_any": contains_any,
    "time_between": time_between,
}


def register() -> None:
    for name, fn in EXTENSIONS.items():
        if not jsonlogic.known(name):
            jsonlogic.add_operator(name, fn)


def check_patterns(logic: Any, path: str = "") -> None:
    """Constant regex patterns must compile: refused when saved, with the path of the bad one."""
    if isinstance(logic, list):
        for i, x in enumerate(logic):
            check_patterns(x, f"{path}[{i}]")
    elif isinstance(logic, dict) and len(logic) == 1:
        op, raw = next(iter(logic.items()))
        where = f"{path}.{op}" if path else op
        args = raw if isinstance(raw, list) else [raw]
        if op == "regex" and args and isinstance(args[0], str):
            try:
                safe_re.compile(args[0])
            except (safe_re.error, re.error) as exc:
                raise jsonlogic.RuleError(
                    f"invalid regular expression: {exc}", f"{where}[0]"
                ) from None
        for i, a in enumerate(args):
            check_patterns(a, f"{where}[{i}]")


register()

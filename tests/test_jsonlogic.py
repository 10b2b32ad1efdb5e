"""The official JsonLogic suite (tests/data/jsonlogic, MIT), through apply and through compile."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from kohtaamo.rules import jsonlogic
from kohtaamo.rules.jsonlogic import RuleError

SUITE = json.loads((Path(__file__).parent / "data/jsonlogic/tests.json").read_text())
CASES = [c for c in SUITE if isinstance(c, list)]


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_same(got[k], want[k]) for k in want)
        )
    return got == want and (want is None) == (got is None)


def test_the_suite_is_all_there() -> None:
    assert len(CASES) == 277


@pytest.mark.parametrize(
    ("rule", "data", "want"), CASES, ids=[json.dumps(c[0])[:60] for c in CASES]
)
def test_official_case(rule: Any, data: Any, want: Any) -> None:
    assert _same(jsonlogic.apply(rule, data), want)
    compiled = jsonlogic.compile(rule)
    assert _same(compiled(data), want)
    assert _same(compiled(data), want)  # a compiled rule is reusable


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"teleport": [1]}, "teleport"),
        ({"and": [{"==": [1, 1]}, {"frobnicate": []}]}, "and[1].frobnicate"),
        ({"if": [{"var": "a"}, {"a": 1, "b": 2}]}, "if[1]"),
        ({"map": [{"var": "xs"}, {"nope": 1}]}, "map[1].nope"),
    ],
)
def test_bad_rules_are_refused_with_the_place(rule: Any, path: str) -> None:
    with pytest.raises(RuleError) as err:
        jsonlogic.check(rule)
    assert err.value.path == path


def test_unknown_operator_fails_at_compile_time() -> None:
    with pytest.raises(RuleError, match="unknown operator 'teleport'"):
        jsonlogic.compile({"and": [True, {"teleport": []}]})

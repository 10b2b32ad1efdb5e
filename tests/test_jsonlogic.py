"""The official JsonLogic suite (tests/data/jsonlogic, MIT), through apply and through compile."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from kohtaamo.rules import codegen, jsonlogic, ruleset
from kohtaamo.rules.js import truthy
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


# ---------------------------------------------------------------- compile (generated source) vs apply

Outcome = tuple[str, Any]


def _outcome(fn: Any, data: Any) -> Outcome:
    try:
        return ("value", fn(data))
    except Exception as err:
        return ("error", type(err))


def _equal(a: Any, b: Any) -> bool:
    """Same JSON value and same Python types (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _agree(rule: Any, datas: list[Any]) -> None:
    compiled = jsonlogic.compile(rule)
    reference = jsonlogic._compile(rule, "")  # what apply() runs
    for data in datas:
        got, want = _outcome(compiled, data), _outcome(reference, data)
        assert got[0] == want[0], (rule, data, got, want)
        assert _equal(got[1], want[1]), (rule, data, got, want)
        if want[0] == "value":
            assert _equal(jsonlogic.apply(rule, data), want[1])


def _generated(fn: Any) -> bool:
    return bool(fn.__code__.co_filename == codegen.FILENAME)


def test_every_official_rule_is_generated_source() -> None:
    assert all(_generated(jsonlogic.compile(rule)) for rule, _, _ in CASES)


def test_compile_agrees_with_apply_on_every_official_rule_and_data() -> None:
    datas = [data for _, data, _ in CASES]
    unique = list({json.dumps(d, sort_keys=True): d for d in datas}.values())
    for rule, _, _ in CASES:
        _agree(rule, unique)


DATA: list[Any] = [
    None,
    [],
    [1, "2", None],
    "text",
    7,
    {},
    {"a": 1, "b": "1", "c": None, "d": [], "e": [0, "x"], "f": {"g": {"h": 2}}},
    {"a": "10", "b": 9.5, "c": "", "d": ["kamerat"], "e": "kamerat", "f": {"g": None}},
    {"a": True, "b": False, "c": 0, "d": [[]], "e": {"0": "zero"}, "f": {"g": [5, {"h": 3}]}},
    {"a": float("nan"), "b": float("inf"), "c": "abc", "d": [1, 2], "f": {"g": {"h": "2"}}},
    {"a": 2**60, "b": -0.0, "c": " 2 ", "d": {"x": 1}, "e": ["kamerat", "k"], "f": "fg"},
]

TRICKY: list[Any] = [
    # numeric strings against numbers, both ways, and null
    {"==": [{"var": "a"}, 10]},
    {"==": [10, {"var": "a"}]},
    {"==": [{"var": "a"}, "10"]},
    {"!=": [{"var": "c"}, 0]},
    {"===": [{"var": "a"}, 1]},
    {"!==": [{"var": "a"}, "10"]},
    {"===": [{"var": "c"}, None]},
    {"==": [None, {"var": "c"}]},
    {"!==": [{"var": "a"}, True]},
    {"==": [{"var": "a"}, True]},
    {">": [{"var": "a"}, 9]},
    {">=": [{"var": "c"}, "abc"]},
    {"<": [{"var": "b"}, 2**60]},
    {"<": [-1, {"var": "b"}]},
    {"<=": [1, {"var": "a"}, 10]},
    {"<": [0, {"var": "b"}, "20"]},
    {"<=": [{"var": "a"}, {"var": "b"}]},
    {">": [{"var": "d"}, 0]},
    # and/or return the deciding operand, nested
    {"and": [{"var": "a"}, {"var": "b"}, {"var": "c"}]},
    {"or": [{"var": "c"}, {"var": "d"}, {"var": "b"}]},
    {"or": [{"and": [{"var": "a"}, {"var": "d"}]}, {"and": [{"var": "b"}, "last"]}]},
    {"and": [1, {"var": "d"}, {">": [{"var": "a"}, 0]}, {"var": "e"}]},
    {"or": [0, False, {"==": [{"var": "a"}, 1]}, {"var": "f"}]},
    {"and": [{"==": [{"var": "a"}, 1]}, {"var": "e"}, True]},
    {"or": [{"var": "d"}, {"var": "x"}]},
    {"and": []},
    {"or": [[], 0]},
    {"!": [{"and": [{"var": "a"}, {"var": "d"}]}]},
    {"!!": {"or": [{"var": "c"}, {"var": "d"}]}},
    {"!": [{"var": "a"}, {"var": "b"}]},
    {"if": [{"and": [{"var": "a"}, {"var": "e"}]}, "yes", {"var": "c"}, "c", "no"]},
    {"if": [{"var": "d"}, {"var": "a"}]},
    {"?:": [{"or": [{"var": "x"}, 0]}, 1, {"var": "b"}]},
    {"if": []},
    {"if": [{"var": "a"}]},
    # var: defaults, missing intermediate keys, list indexes, odd keys
    {"var": ["f.g.h", "default"]},
    {"var": ["x.y", 5]},
    {"var": ["f.g", [1]]},
    {"var": "e.0"},
    {"var": "e.1"},
    {"var": "f.g.1.h"},
    {"var": "d.0"},
    {"var": 0},
    {"var": 1.0},
    {"var": ""},
    {"var": [""]},
    {"var": []},
    {"var": None},
    {"var": [None, 3]},
    {"var": ["", 3]},
    {"var": ["a", {"var": "b"}]},
    {"var": {"cat": ["f", ".g"]}},
    {"var": True},
    {"var": "a.b.c.d"},
    {"var": "f..g"},
    # in, with a constant needle
    {"in": ["kamerat", {"var": "d"}]},
    {"in": ["kamerat", {"var": "e"}]},
    {"in": ["1", {"var": "e"}]},
    {"in": ["a", {"var": "f"}]},
    {"in": [{"var": "a"}, ["10", 1]]},
    {"in": ["kamerat", "kamerat"]},
    # the rest, through the generic helpers
    {"+": [{"var": "a"}, {"var": "b"}, "1"]},
    {"*": [{"var": "a"}]},
    {"*": []},
    {"/": [{"var": "a"}, {"var": "c"}]},
    {"cat": [{"var": "a"}, {"var": "d"}, None]},
    {"substr": [{"var": "c"}, -2]},
    {"merge": [{"var": "d"}, {"var": "e"}, 3]},
    {"max": [{"var": "a"}, {"var": "b"}]},
    {"missing": ["a", "x", "f.g"]},
    {"missing_some": [1, ["a", "x"]]},
    {"map": [{"var": "d"}, {"+": [{"var": ""}, 1]}]},
    {"filter": [{"var": "e"}, {"var": ""}]},
    {"all": [{"var": "e"}, {"var": ""}]},
    {"all": [{"var": "c"}, {"==": [{"var": ""}, "a"]}]},
    {"none": [{"var": "d"}, {"==": [{"var": "x"}, 1]}]},
    {"some": [{"var": "f.g"}, {">": [{"var": "h"}, 2]}]},
    {"reduce": [{"var": "e"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]},
    {"reduce": [[1, 2], {"var": "accumulator"}]},
    {"map": [[{"a": 1, "z": 0}, {"a": [2], "z": 0}, 3], {"var": "a.0"}]},
    {"==": [[1], [1]]},
    {"===": [{"var": "d"}, {"var": "d"}]},
    [1, {"var": "a"}, [2, {"var": "b"}]],
    {"log": {"var": "a"}},
]


@pytest.mark.parametrize("rule", TRICKY, ids=[json.dumps(r)[:60] for r in TRICKY])
def test_compile_agrees_with_apply_on_tricky_cases(rule: Any) -> None:
    _agree(rule, DATA)
    assert _generated(jsonlogic.compile(rule))


def test_and_or_return_the_deciding_operand() -> None:
    rule = jsonlogic.compile({"or": [{"and": [{"var": "a"}, {"var": "b"}]}, {"var": "c"}]})
    assert rule({"a": [1], "b": "x", "c": 3}) == "x"
    assert rule({"a": [], "b": "x", "c": 0}) == 0
    assert rule({"a": 1, "b": 0.0, "c": []}) == []


@pytest.fixture
def shout() -> Iterator[None]:
    jsonlogic.add_operator("shout", lambda *a: "".join(map(str, a)).upper() + "!")
    yield
    jsonlogic._EXTENSIONS.pop("shout")


@pytest.mark.usefixtures("shout")
def test_a_custom_operator_works_in_compiled_rules() -> None:
    rule = {"if": [{"==": [{"shout": [{"var": "a"}, "x"]}, "HIX!"]}, "yes", "no"]}
    fn = jsonlogic.compile(rule)
    assert _generated(fn)
    assert fn({"a": "hi"}) == "yes"
    assert fn({"a": "ho"}) == "no"
    _agree({"some": [{"var": "d"}, {"shout": {"var": ""}}]}, DATA)


def _nest(depth: int, wrap: Any) -> Any:
    rule: Any = {"var": "a"}
    for i in range(depth):
        rule = wrap(rule, i)
    return rule


DEEP = {
    "not": lambda r, i: {"!": [r]},
    "and": lambda r, i: {"and": [{"var": "a"}, r]},
    "or_values": lambda r, i: {"or": [{"var": "c"}, r, {"var": "b"}]},
    "if": lambda r, i: (
        {"if": [{">": [r, i]}, {"var": "b"}, i]} if i % 2 else {"if": [{"var": "c"}, r, i]}
    ),
    "plus": lambda r, i: {"+": [r, 1]},
    "compare": lambda r, i: {"==": [{"or": [r, 1]}, 1]},
    "list": lambda r, i: [r, {"var": "b"}],
    "map": lambda r, i: {"map": [[{"a": 1, "z": 0}], r]} if i % 10 == 0 else {"!!": r},
    "var_default": lambda r, i: {"var": ["x", r]},
}


@pytest.mark.parametrize("shape", list(DEEP))
def test_a_deeply_nested_rule_compiles_and_agrees(shape: str) -> None:
    rule = _nest(150, DEEP[shape])
    fn = jsonlogic.compile(rule)
    assert _generated(fn)  # the outer levels are generated, the deep ones are closures
    _agree(rule, DATA)


def test_wide_and_huge_rules_compile() -> None:
    chain = {"if": [x for i in range(800) for x in ({"==": [{"var": "a"}, i]}, i)] + ["none"]}
    values = {"and": [{"var": "a"} for _ in range(800)] + [{"var": "b"}]}
    huge = {"or": [{"==": [{"var": f"k{i}"}, i]} for i in range(3000)] + [{"var": "a"}]}
    datas = [*DATA, {"a": 799, "b": 2, "k2999": 2999}]
    for rule in (chain, values, huge):
        _agree(rule, datas)
    assert _generated(jsonlogic.compile(chain))
    assert _generated(jsonlogic.compile(values))
    assert not _generated(jsonlogic.compile(huge))  # over MAX_SOURCE: closures


class Items(list[Any]):
    pass


def test_data_that_is_not_plain_json_takes_the_closures() -> None:
    datas: list[Any] = [
        MappingProxyType({"a": 2, "d": Items(["kamerat"]), "f": {"g": {"h": 2}}}),
        {"a": 2, "d": Items(["kamerat", 1]), "f": MappingProxyType({"g": {"h": 2}})},
        Items([{"a": 1}, 2]),
    ]
    for rule in TRICKY:
        _agree(rule, datas)


def test_the_source_holds_no_string_from_the_rule() -> None:
    evil = "'); __import__('os'); print('pwned') #"  # no dot: a var path would split it
    rule = {"and": [{"==": [{"var": evil}, evil]}, {"in": [evil, {"var": f"x.{evil}"}]}]}
    source, _, _ = codegen.generate(rule)
    assert "pwned" not in source
    assert "__import__" not in source
    fn = jsonlogic.compile(rule)
    assert fn({evil: evil, "x": {evil: [evil]}}) is True
    assert fn({evil: evil, "x": {evil: ["other"]}}) is False


# ---------------------------------------------------------------- random rules

KEYS = ["a", "b", "c", "d", "e", "f", "f.g", "f.g.h", "e.0", "d.1", "x", "x.y", "", "current"]
CONSTANTS: list[Any] = [0, 1, -1, 2, 2.5, 10, "", "0", "1", "10", "a", "kamerat", " 2 "]
CONSTANTS += [True, False, None, [], [1, "a"], ["kamerat"]]
OPS = [
    *["==", "===", "!=", "!==", "<", "<=", ">", ">=", "!", "!!", "in", "and", "or"],
    *["if", "?:", "+", "-", "*", "/", "%", "min", "max", "cat", "substr", "merge"],
    *["missing", "missing_some", "map", "filter", "reduce", "all", "none", "some", "var"],
]


def _random_rule(rng: random.Random, depth: int) -> Any:
    if depth <= 0 or rng.random() < 0.3:
        if rng.random() < 0.5:
            return {"var": rng.choice(KEYS)}
        return rng.choice(CONSTANTS)
    op = rng.choice(OPS)
    if op == "var":
        key = rng.choice([*KEYS, 0, 1, None, {"cat": ["f", ".g"]}])
        return {"var": [key, _random_rule(rng, depth - 1)] if rng.random() < 0.4 else key}
    if op in ("missing", "missing_some"):
        keys = rng.sample(KEYS, 3)
        return {op: [rng.randint(0, 3), keys]} if op == "missing_some" else {op: keys}
    count = {"!": 1, "!!": 1, "in": 2}.get(op, rng.randint(0, 4))
    if op in ("==", "===", "!=", "!==", "<", "<=", ">", ">=") and rng.random() < 0.8:
        count = 3 if op in ("<", "<=") and rng.random() < 0.3 else 2
    args = [_random_rule(rng, depth - 1) for _ in range(count)]
    comparison = op in ("==", "===", "!=", "!==", "<", "<=", ">", ">=", "in")
    if comparison and count and rng.random() < 0.6:
        args[rng.randrange(len(args))] = rng.choice(CONSTANTS)  # a constant side: the fast paths
    return {op: args[0] if count == 1 and rng.random() < 0.5 else args}


def test_random_rules_compile_as_they_apply() -> None:
    rng = random.Random(20261123)
    for _ in range(3000):
        _agree(_random_rule(rng, rng.randint(1, 5)), DATA)


def test_value_among_constant_strings_matches_apply() -> None:
    rule = {"in": [{"var": "x"}, ["cart", "checkout", "1"]]}
    fn = jsonlogic.compile(rule)
    for x in ("cart", "checkout", "kassa", 1, "1", None, ["cart"], True, 1.0):
        assert fn({"x": x}) == jsonlogic.apply(rule, {"x": x}), x
    assert fn({"x": "cart"}) is True
    assert fn({"x": 1}) is False  # strict equality: the number 1 is not the string "1"


def test_missing_count_compares_as_zero_like_javascript() -> None:
    for op, k in ((">", 0), (">=", 0), ("<", 1), ("<=", -1), (">", -1)):
        for left in (True, False):
            args = [k, {"var": "n.m"}] if left else [{"var": "n.m"}, k]
            rule = {op: args}
            for data in ({}, {"n": {}}, {"n": {"m": None}}, {"n": {"m": 2}}, {"n": {"m": "3"}}):
                assert jsonlogic.compile(rule)(data) == jsonlogic.apply(rule, data), (rule, data)


def _truthy_outcome(rule: Any, data: Any) -> bool | str:
    try:
        return bool(truthy(jsonlogic.apply(rule, data)))
    except Exception as exc:
        return type(exc).__name__


def test_a_rule_set_function_agrees_with_each_rule_and_its_gates() -> None:
    """ruleset.compile_set (shared lookups for a workspace's rules) == every rule on its own."""
    rng = random.Random(7)
    datas = [d for d in DATA if isinstance(d, dict)]
    datas += [c[1] for c in CASES if isinstance(c[1], dict)]
    datas += [{"page": {"type": "cart"}, "events": {"payment_failures": {"invoice": 1}}}]
    datas += [{"page": ["cart"], "events": "x", "a": {"b": None}}]
    candidates = [_random_rule(rng, rng.randint(1, 4)) for _ in range(1500)]
    candidates += [c[0] for c in CASES]
    candidates += [
        {"==": [{"var": "page.type"}, "cart"]},
        {">": [{"var": "events.payment_failures.invoice"}, 0]},
        {"in": [{"var": "page.type"}, ["cart", "checkout"]]},
        {"var": ["a.b", 1]},
        {"var": "a.b"},
    ]
    # Saved rules that raise would fail the decision either way; compare on the ones that don't.
    rules = [r for r in candidates if all(type(_truthy_outcome(r, d)) is bool for d in datas)]
    assert len(rules) > 500
    gates = [rng.choice([None, True, rng.choice(rules)]) for _ in rules]
    fn = ruleset.compile_set(rules, gates)
    assert fn is not None
    for data in datas:
        got = fn(data)
        assert got is not None
        truth = [_truthy_outcome(r, data) is True for r in rules]
        assert got[0] == [i for i, t in enumerate(truth) if t], data
        want_wait = [
            i
            for i, g in enumerate(gates)
            if not truth[i] and g is not None and (g is True or _truthy_outcome(g, data) is True)
        ]
        assert got[1] == want_wait, data
    assert fn([1, 2]) is None  # not a dict: the caller runs each rule's own function

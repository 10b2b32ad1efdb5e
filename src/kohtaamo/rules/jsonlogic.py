"""JsonLogic (jsonlogic.com), with JavaScript's coercions, as an interpreter and a compiler.

`apply(logic, data)` evaluates a rule once (through a tree of closures built for the call).
`compile(logic)` generates Python source for the rule once (kohtaamo.rules.codegen): one function,
so a rule evaluated on every tracked event costs one Python call and a few dict look-ups.
`check(logic)` refuses unknown operators and malformed rules with the path to the problem.
Both follow the reference implementation (json-logic-js): `==` is JavaScript's loose equality,
`+` and `*` use parseFloat, empty arrays are falsy, `var` reads dotted paths.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from kohtaamo.rules.js import (
    js_str,
    less,
    loose_eq,
    parse_float,
    strict_eq,
    to_number,
    truthy,
    whole,
)

log = logging.getLogger("kohtaamo.rules.jsonlogic")

Fn = Callable[[Any], Any]
# Results a rule may build: a rule that doubles a text or a list in `reduce` must fail fast
# (as an error, which the engine isolates) instead of taking the worker's memory.
MAX_TEXT = 100_000
MAX_ITEMS = 100_000
_MISSING = object()


class RuleError(ValueError):
    """A rule that cannot be evaluated: an unknown operator or a malformed node, with its path."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path or '(rule)'}: {message}")
        self.path = path or "(rule)"
        self.detail = message


def get_var(data: Any, path: Any = None, default: Any = None) -> Any:
    """`var`: a dotted path (or a number) into the data; missing -> default, null -> null."""
    if path is None or path == "" or path == []:
        return data
    for part in js_str(path).split("."):
        if data is None:
            return default
        if isinstance(data, Mapping):
            if part not in data:
                return default
            data = data[part]
        elif isinstance(data, list | str):
            if not part.isdigit() or (len(part) > 1 and part[0] == "0") or int(part) >= len(data):
                return default
            data = data[int(part)]
        else:
            return default
    return data


def _index(value: Any) -> int:
    """JavaScript's ToIntegerOrInfinity, with the infinities as huge ints (slices clamp them)."""
    x = to_number(value)
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return MAX_ITEMS * 1000 if x > 0 else -MAX_ITEMS * 1000
    return int(x)


def _substr(source: Any, start: Any, length: Any = None) -> str:
    text = js_str(source)
    n = len(text)
    s = _index(start)
    s = max(n + s, 0) if s < 0 else min(s, n)
    if length is None:
        return text[s:]
    ln = _index(length)
    if ln < 0:
        return text[s:][: max(len(text[s:]) + ln, 0)]
    return text[s : s + ln]


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, str):
        return js_str(a) in b
    if isinstance(b, list):
        return any(strict_eq(a, x) for x in b)
    return False


def _minus(*args: Any) -> Any:
    if not args:
        return math.nan
    if len(args) == 1:
        return whole(-to_number(args[0]))
    return whole(to_number(args[0]) - to_number(args[1]))


def _div(a: Any = None, b: Any = None, *_: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0:
        return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x)
    return whole(x / y)


def _mod(a: Any = None, b: Any = None, *_: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0 or math.isnan(x) or math.isnan(y) or math.isinf(x):
        return math.nan
    return whole(math.fmod(x, y))


def _minmax(pick: Callable[..., float], empty: float) -> Callable[..., Any]:
    def op(*args: Any) -> Any:
        values = [to_number(a) for a in args]
        if any(math.isnan(v) for v in values):
            return math.nan
        return whole(pick(values)) if values else empty

    return op


def _times(*args: Any) -> Any:
    if not args:
        raise RuleError("* needs at least one argument")
    if len(args) == 1:
        return args[0]  # JavaScript's reduce without a start value returns a lone item as it is
    return whole(math.prod(parse_float(x) for x in args))


def _merge(*args: Any) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, list):
            out.extend(a)
        else:
            out.append(a)
    if len(out) > MAX_ITEMS:
        raise RuleError(f"merge made a list of more than {MAX_ITEMS:,} items", "merge")
    return out


def _cat(*args: Any) -> str:
    out = "".join(js_str(x) for x in args)
    if len(out) > MAX_TEXT:
        raise RuleError(f"cat made a text of more than {MAX_TEXT:,} characters", "cat")
    return out


def _log(value: Any) -> Any:
    log.info("jsonlogic log", extra={"value": value})
    return value


# Operators whose arguments are all evaluated first: name -> function of the values.
EAGER: dict[str, Callable[..., Any]] = {
    "==": lambda a=None, b=None, *_: loose_eq(a, b),
    "===": lambda a=None, b=None, *_: strict_eq(a, b),
    "!=": lambda a=None, b=None, *_: not loose_eq(a, b),
    "!==": lambda a=None, b=None, *_: not strict_eq(a, b),
    "!": lambda a=None, *_: not truthy(a),
    "!!": lambda a=None, *_: truthy(a),
    ">": lambda a=None, b=None, *_: less(b, a, False),
    ">=": lambda a=None, b=None, *_: less(b, a, True),
    "<": lambda a=None, b=None, c=_MISSING, *_: (
        less(a, b, False) if c is _MISSING else less(a, b, False) and less(b, c, False)
    ),
    "<=": lambda a=None, b=None, c=_MISSING, *_: (
        less(a, b, True) if c is _MISSING else less(a, b, True) and less(b, c, True)
    ),
    "max": _minmax(max, -math.inf),
    "min": _minmax(min, math.inf),
    "+": lambda *a: whole(sum(parse_float(x) for x in a)),
    "*": _times,
    "-": _minus,
    "/": _div,
    "%": _mod,
    "in": lambda a=None, b=None, *_: _in(a, b),
    "cat": _cat,
    "substr": lambda s=None, start=0, length=None, *_: _substr(s, start, length),
    "merge": _merge,
    "log": lambda a=None, *_: _log(a),
}
LAZY = frozenset(
    {
        "var",
        "missing",
        "missing_some",
        "if",
        "?:",
        "and",
        "or",
        "map",
        "filter",
        "reduce",
        "all",
        "none",
        "some",
    }
)
OPERATORS = frozenset(EAGER) | LAZY


def is_logic(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1


# ---------------------------------------------------------------- compiler

Extension = Callable[..., Any]
_EXTENSIONS: dict[str, Extension] = {}


def add_operator(name: str, fn: Extension) -> None:
    """A documented shop-specific operator (see docs/rules.md); its arguments arrive evaluated."""
    if name in OPERATORS:
        raise ValueError(f"{name} is a JsonLogic operator")
    _EXTENSIONS[name] = fn


def known(op: str) -> bool:
    return op in OPERATORS or op in _EXTENSIONS


def apply(logic: Any, data: Any = None) -> Any:
    return _compile(logic, "")(data)


def compile(logic: Any) -> Fn:
    """A reusable function of `data`: generated Python source, with the closures as fallback."""
    from kohtaamo.rules.codegen import compile_rule  # codegen imports this module

    return compile_rule(logic)


def _const(value: Any) -> Fn:
    return lambda _d: value


def _compile(node: Any, path: str) -> Fn:
    if isinstance(node, list):
        fns = [_compile(x, f"{path}[{i}]") for i, x in enumerate(node)]
        if all(getattr(f, "const", False) for f in fns):
            value = [f(None) for f in fns]
            return _const(value)
        return lambda d: [f(d) for f in fns]
    if not is_logic(node):
        fn = _const(node)
        fn.const = True  # type: ignore[attr-defined]
        return fn
    op, raw = next(iter(node.items()))
    where = f"{path}.{op}" if path else op
    args = raw if isinstance(raw, list) else [raw]
    if op in ("if", "?:"):
        return _if([_compile(a, f"{where}[{i}]") for i, a in enumerate(args)])
    if op in ("and", "or"):
        return _and_or([_compile(a, f"{where}[{i}]") for i, a in enumerate(args)], op == "and")
    if op in ("map", "filter", "all", "none", "some", "reduce"):
        return _scoped(op, args, where)
    fns = [_compile(a, f"{where}[{i}]") for i, a in enumerate(args)]
    if op == "var":
        return _var(fns)
    if op == "missing":
        return lambda d: _missing(d, [f(d) for f in fns])
    if op == "missing_some":
        return lambda d: _missing_some(d, [f(d) for f in fns])
    impl = EAGER.get(op) or _EXTENSIONS.get(op)
    if impl is None:
        raise RuleError(f"unknown operator {op!r}", where)
    if len(fns) == 1:
        (f0,) = fns
        return lambda d: impl(f0(d))
    if len(fns) == 2:
        f0, f1 = fns
        return lambda d: impl(f0(d), f1(d))
    return lambda d: impl(*[f(d) for f in fns])


def _var(fns: list[Fn]) -> Fn:
    if not fns:
        return lambda d: d
    if getattr(fns[0], "const", False) and len(fns) == 1:
        key = fns[0](None)
        if key is None or key == "":
            return lambda d: d
        parts = js_str(key).split(".")
        if len(parts) == 1:
            part = parts[0]

            def one(d: Any) -> Any:  # the common case: one key into an object
                if isinstance(d, Mapping):
                    return d.get(part)
                return get_var(d, part)

            return one
        return lambda d: get_var(d, key)
    if len(fns) == 1:
        return lambda d: get_var(d, fns[0](d))
    return lambda d: get_var(d, fns[0](d), fns[1](d))


def _missing(data: Any, args: list[Any]) -> list[Any]:
    keys = args[0] if args and isinstance(args[0], list) else args
    out = []
    for key in keys:
        value = get_var(data, key)
        if value is None or value == "":
            out.append(key)
    return out


def _missing_some(data: Any, args: list[Any]) -> list[Any]:
    need = args[0] if args else 0
    options = args[1] if len(args) > 1 and isinstance(args[1], list) else []
    missing = _missing(data, [options])
    return [] if len(options) - len(missing) >= to_number(need) else missing


def _if(fns: list[Fn]) -> Fn:
    pairs = [(fns[i], fns[i + 1]) for i in range(0, len(fns) - 1, 2)]
    otherwise = fns[-1] if len(fns) % 2 == 1 else None

    def run(d: Any) -> Any:
        for cond, then in pairs:
            if truthy(cond(d)):
                return then(d)
        return otherwise(d) if otherwise is not None else None

    return run


def _and_or(fns: list[Fn], is_and: bool) -> Fn:
    def run(d: Any) -> Any:
        current = None
        for f in fns:
            current = f(d)
            if truthy(current) != is_and:
                return current
        return current

    return run


def _scoped(op: str, args: list[Any], where: str) -> Fn:
    items = _compile(args[0] if args else None, f"{where}[0]")
    inner = _compile(args[1] if len(args) > 1 else None, f"{where}[1]")
    if op == "map":
        return lambda d: [inner(x) for x in v] if isinstance(v := items(d), list) else []
    if op == "filter":
        return lambda d: (
            [x for x in v if truthy(inner(x))] if isinstance(v := items(d), list) else []
        )
    if op == "all":
        return lambda d: (
            bool(v) and all(truthy(inner(x)) for x in v)
            if isinstance(v := items(d), list | str)
            else False
        )
    if op == "none":
        return lambda d: (
            not any(truthy(inner(x)) for x in v) if isinstance(v := items(d), list) else True
        )
    if op == "some":
        return lambda d: (
            any(truthy(inner(x)) for x in v) if isinstance(v := items(d), list) else False
        )
    start = _compile(args[2], f"{where}[2]") if len(args) > 2 else _const(None)

    def reduce(d: Any) -> Any:
        acc = start(d)
        values = items(d)
        if not isinstance(values, list):
            return acc
        for x in values:
            acc = inner({"current": x, "accumulator": acc})
        return acc

    return reduce


# ---------------------------------------------------------------- checking a rule when it is saved


def check(logic: Any, path: str = "") -> None:
    """Refuse unknown operators and malformed nodes, naming where: called when a rule is saved."""
    if isinstance(logic, list):
        for i, x in enumerate(logic):
            check(x, f"{path}[{i}]")
        return
    if isinstance(logic, dict):
        if len(logic) != 1:
            keys = ", ".join(sorted(map(str, logic))) or "none"
            raise RuleError(f"an operation has exactly one operator, this object has: {keys}", path)
        op, raw = next(iter(logic.items()))
        where = f"{path}.{op}" if path else op
        if not known(op):
            raise RuleError(f"unknown operator {op!r}", where)
        args = raw if isinstance(raw, list) else [raw]
        for i, a in enumerate(args):
            check(a, f"{where}[{i}]")
        return
    if logic is not None and not isinstance(logic, str | int | float | bool):
        raise RuleError(f"{type(logic).__name__} is not JSON", path)

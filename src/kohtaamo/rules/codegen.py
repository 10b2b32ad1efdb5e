"""JsonLogic rules compiled to Python source: one function per rule (`jsonlogic.compile`).

The generated code inlines what rules mostly do — `var` with a static dotted path becomes chained
`dict.get` calls, a comparison with a constant number or string gets a native fast path, `and`/`or`
return their deciding operand through walrus temporaries, truthiness is tested inline — and calls
the same helpers as the closure compiler (`jsonlogic._compile`) for everything else, so the
results are identical. Nothing from the rule is written into the source: strings, lists, objects,
operators and paths are bound as names in the function's namespace; only `None`, booleans and
plain finite numbers are written as their `repr`.

A function whose data is not a `dict` (a list, a scalar, a Mapping subclass) runs the closure
compiled version instead. Nodes nested deeper than `MAX_DEPTH`, and rules whose source would be
larger than `MAX_SOURCE`, use the closure compiler too, so Python's parser limits are never hit.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kohtaamo.rules import jsonlogic as jl
from kohtaamo.rules.js import js_str, truthy

log = logging.getLogger("kohtaamo.rules.codegen")

MAX_DEPTH = 40  # nesting levels of one generated function (each adds at most ~4 parentheses)
MAX_SOURCE = 200_000  # characters of generated source; larger rules stay closures
FILENAME = "<jsonlogic>"
_NONE: Any = object()  # "not a constant"
_EXACT = 2**53  # numbers below this compare the same as ints and as JavaScript doubles
_BOOLEAN_OPS = frozenset({"==", "===", "!=", "!==", "<", "<=", ">", ">=", "!", "!!", "in"})
_PY_OP = {"==": "==", "===": "==", "!=": "!=", "!==": "!=", "<": "<", "<=": "<=", ">": ">"}
_PY_OP[">="] = ">="


def _iterate(op: str, v: Any, f: Callable[[Any], Any]) -> Any:
    """map/filter/all/none/some as the closure compiler does them (the generated code inlines
    them for a plain list); `f` returns a truth for all but map."""
    if op == "all":
        return (bool(v) and all(map(f, v))) if isinstance(v, list | str) else False
    if not isinstance(v, list):
        return [] if op in ("map", "filter") else op == "none"
    if op in ("map", "filter"):
        return list((map if op == "map" else filter)(f, v))
    return any(map(f, v)) == (op == "some")


def _reduce(acc: Any, values: Any, f: jl.Fn) -> Any:
    if isinstance(values, list):
        for x in values:
            acc = f({"current": x, "accumulator": acc})
    return acc


# map, filter, all, none, some on a plain list; the inner function returns a truth but for map.
_INLINE = {
    "map": "list(map({f}, {t}))",
    "filter": "list(filter({f}, {t}))",
    "all": "{t} != [] and all(map({f}, {t}))",
    "none": "not any(map({f}, {t}))",
    "some": "any(map({f}, {t}))",
}
_BASE: dict[str, Any] = {
    "__builtins__": builtins,
    "_NUMERIC": (int, float, bool),  # what JavaScript's loose comparisons treat as numbers here
    "_STRICT_NUMERIC": (int, float),
    "_get": jl.get_var,
    "_truthy": truthy,
    "_in": jl._in,
    "_missing": jl._missing,
    "_missing_some": jl._missing_some,
    "_iterate": _iterate,
    "_reduce": _reduce,
}


@dataclass(frozen=True, slots=True)
class Expr:
    """Generated source for one node: `src` is an atom or parenthesised, so it composes."""

    src: str
    is_bool: bool = False  # always a Python bool
    const: Any = _NONE  # a literal leaf (what the closure compiler marks `const`)

    @property
    def is_const(self) -> bool:
        return self.const is not _NONE


def _plain_number(c: Any) -> bool:
    """A number that Python compares exactly as JavaScript would against any number."""
    return (type(c) is int or type(c) is float) and math.isfinite(c) and abs(c) < _EXACT


def _number(e: Expr) -> bool:
    return _plain_number(e.const)


def _string(e: Expr) -> bool:
    return type(e.const) is str


class Generator:
    """Builds the source of one rule (and of the inner functions of its map/filter/...)."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = dict(_BASE)
        self.defs: list[str] = []
        self.count = 0
        self.strings: dict[str, str] = {}
        self.ops: dict[str, str] = {}
        self.dict_data = False  # the function being generated assumes `type(d) is dict`
        # Rule sets only: static paths read once at the top of the function, shared by rules.
        self.hoisted: dict[str, str] | None = None
        self.hoist_lines: list[str] = []

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def bind(self, value: Any) -> str:
        """A name for a constant; strings are shared, anything else is its own object."""
        if type(value) is str:
            if value not in self.strings:
                self.strings[value] = self.bind_new(value, "_s")
            return self.strings[value]
        return self.bind_new(value, "_c")

    def bind_new(self, value: Any, prefix: str) -> str:
        name = self.fresh(prefix)
        self.ns[name] = value
        return name

    def op(self, op: str, where: str) -> str:
        """The name bound to an eager operator's implementation (or a custom operator's)."""
        if op not in self.ops:
            impl = jl.EAGER.get(op) or jl._EXTENSIONS.get(op)
            if impl is None:
                raise jl.RuleError(f"unknown operator {op!r}", where)
            self.ops[op] = self.bind_new(impl, "_o")
        return self.ops[op]

    def closure(self, node: Any, path: str) -> Expr:
        return Expr(f"{self.bind_new(jl._compile(node, path), '_k')}(d)")

    # ------------------------------------------------------------ functions

    def function(self, node: Any, path: str, truth: bool, slow: jl.Fn | None = None) -> str:
        """A `def` of `d` returning the node's value (or its truthiness); returns its name."""
        outer, self.dict_data = self.dict_data, False
        hoisted, self.hoisted = self.hoisted, None  # an inner function's `d` is an item
        body = self.truth(node, path, 0) if truth else self.value(node, path, 0).src
        name = self.fresh("_f")
        lines = [f"def {name}(d):"]
        if self.dict_data:
            fallback = self.bind_new(slow or jl._compile(node, path), "_k")
            back = f"_truthy({fallback}(d))" if truth else f"{fallback}(d)"
            lines += ["    if type(d) is not dict:", f"        return {back}"]
        lines.append(f"    return {body}")
        self.defs.append("\n".join(lines))
        self.dict_data = outer
        self.hoisted = hoisted
        return name

    # ------------------------------------------------------------ values

    def value(self, node: Any, path: str, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            return self.closure(node, path)
        if isinstance(node, list):
            items = [self.value(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(node)]
            if all(e.is_const for e in items):
                return Expr(self.bind_new([e.const for e in items], "_c"))
            return Expr("[" + ", ".join(e.src for e in items) + "]")
        if not jl.is_logic(node):
            return self.constant(node)
        op, raw = next(iter(node.items()))
        where = f"{path}.{op}" if path else op
        args: list[Any] = raw if isinstance(raw, list) else [raw]
        if op in ("if", "?:"):
            return self.if_(args, where, depth, truth=False)
        if op in ("and", "or"):
            return self.and_or(op, args, where, depth)
        if op in _INLINE or op == "reduce":
            return self.scoped(op, args, where, depth)
        exprs = [self.value(a, f"{where}[{i}]", depth + 1) for i, a in enumerate(args)]
        if op == "var":
            return self.var(exprs)
        if op in ("missing", "missing_some"):
            return Expr(f"_{op}(d, [{', '.join(e.src for e in exprs)}])")
        name = self.op(op, where)
        special = self.special(op, exprs) if op in _BOOLEAN_OPS else None
        if special is not None:
            return Expr(special, is_bool=True)
        call = f"{name}({', '.join(e.src for e in exprs)})"
        return Expr(call, is_bool=op in _BOOLEAN_OPS)

    def constant(self, value: Any) -> Expr:
        if value is None or value is True or value is False:
            return Expr(repr(value), is_bool=value is not None, const=value)
        if _plain_number(value):
            text = repr(value)
            return Expr(f"({text})" if text.startswith("-") else text, const=value)
        return Expr(self.bind(value), const=value)

    def var(self, exprs: list[Expr]) -> Expr:
        if not exprs:
            return Expr("d")
        key = exprs[0]
        default = exprs[1] if len(exprs) > 1 else Expr("None", const=None)
        static = type(key.const) in (str, int, float) and default.is_const
        if not static:
            args = ", ".join(e.src for e in exprs[:2])
            return Expr(f"_get(d, {args})")
        if key.const == "":
            return Expr("d")
        parts = js_str(key.const).split(".")
        if self.hoisted is not None and default.const is None:
            self.dict_data = True
            return Expr(self.hoist(parts))
        last = self.bind(parts[-1])
        tail = "" if default.const is None else f", {default.src}"
        self.dict_data = True
        if len(parts) == 1:
            return Expr(f"d.get({last}{tail})")
        tests, holder = [], "d"
        for part in parts[:-1]:
            t = self.fresh("_t")
            tests.append(f"type({t} := {holder}.get({self.bind(part)})) is dict")
            holder = t
        slow = f"_get(d, {self.bind(key.const)}, {default.src})"
        return Expr(f"({holder}.get({last}{tail}) if {' and '.join(tests)} else {slow})")

    def hoist(self, parts: list[str]) -> str:
        """A local holding the value at a static path (None when missing), read once per call;
        each prefix is a local too, so `page.type` and `page.path` share `d.get("page")`."""
        assert self.hoisted is not None
        path = ".".join(parts)
        name = self.hoisted.get(path)
        if name is not None:
            return name
        last = self.bind(parts[-1])
        if len(parts) == 1:
            src = f"d.get({last})"
        else:
            parent = self.hoist(parts[:-1])
            # Not a dict (a list, a string, missing): the generic getter, same semantics.
            src = f"({parent}.get({last}) if type({parent}) is dict else _get(d, {self.bind(path)}, None))"
        name = self.hoisted[path] = self.fresh("_v")
        self.hoist_lines.append(f"{name} = {src}")
        return name

    def special(self, op: str, exprs: list[Expr]) -> str | None:
        """Fast paths for comparisons with a constant, `!`, `!!` and `in`; None: generic call."""
        if op in ("!", "!!"):
            if len(exprs) != 1:
                return None
            test = self.test(exprs[0])
            return f"(not {test})" if op == "!" else test
        if op == "in":
            # A folded constant list is bound in the namespace under its Expr's name.
            hay = self.ns.get(exprs[1].src) if len(exprs) == 2 else None
            if (
                not exprs[0].is_const
                and type(hay) is list
                and hay
                and all(type(x) is str for x in hay)
            ):
                # A value among constant strings: strict equality, so only a str can be in it.
                names = self.bind_new(frozenset(hay), "_s")
                t = self.fresh("_t")
                return f"(type({t} := {exprs[0].src}) is str and {t} in {names})"
            if len(exprs) != 2 or not _string(exprs[0]) or exprs[1].is_const:
                return None
            s, t = exprs[0].src, self.fresh("_t")
            call = f"_in({s}, {t})"
            hit = f"({s} in {t} and (type({t}[{t}.index({s})]) is str or {call}))"
            inner = f"({hit} if type({t}) is list else {call})"
            return f"({s} in {t} if type({t} := {exprs[1].src}) is str else {inner})"
        generic = self.op(op, "")
        if len(exprs) == 3 and op in ("<", "<=") and not exprs[1].is_const:
            a, b, c = exprs
            if not (_number(a) and _number(c)):
                return None
            t = self.fresh("_t")
            fast = f"{a.src} {op} {t} {op} {c.src}"
            slow = f"{generic}({a.src}, {t}, {c.src})"
            return f"({fast} if type({t} := {b.src}) in _NUMERIC else {slow})"
        if len(exprs) != 2 or exprs[0].is_const == exprs[1].is_const:
            return None
        left = exprs[0].is_const
        const, other = (exprs[0], exprs[1]) if left else (exprs[1], exprs[0])
        t = self.fresh("_t")
        assign = f"({t} := {other.src})"
        pair = f"{const.src}, {t}" if left else f"{t}, {const.src}"
        native = f"{const.src} {_PY_OP[op]} {t}" if left else f"{t} {_PY_OP[op]} {const.src}"
        if const.const is None and op in ("==", "===", "!=", "!=="):
            return f"({assign} is {'' if op in ('==', '===') else 'not '}None)"
        if type(const.const) is bool and op in ("===", "!=="):
            return f"({assign} is {'' if op == '===' else 'not '}{const.src})"
        if _number(const):  # booleans compare as 1 and 0, except for === and !==
            kinds = "_STRICT_NUMERIC" if op in ("===", "!==") else "_NUMERIC"
            if op in ("<", "<=", ">", ">="):
                # JavaScript compares null as 0: a missing count is a plain constant answer.
                x, y = (const.const, 0) if left else (0, const.const)
                on_null = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
                return (
                    f"({native} if type({assign}) in {kinds} else "
                    f"{on_null} if {t} is None else {generic}({pair}))"
                )
            return f"({native} if type({assign}) in {kinds} else {generic}({pair}))"
        if not _string(const):
            return None
        if op == "===":
            return f"(type({assign}) is str and {native})"
        if op == "!==":
            return f"(type({assign}) is not str or {native})"
        return f"({native} if type({assign}) is str else {generic}({pair}))"

    def if_(self, args: list[Any], where: str, depth: int, truth: bool) -> Expr:
        """`if`/`?:` as one flat conditional expression: `(a if c else b if c2 else e)`."""
        parts: list[str] = []
        branches: list[Expr] = []
        for i in range(0, len(args) - 1, 2):
            cond = self.truth(args[i], f"{where}[{i}]", depth + 1)
            then = self.branch(args[i + 1], f"{where}[{i + 1}]", depth, truth)
            parts.append(f"{then.src} if {cond} else ")
            branches.append(then)
        if len(args) % 2:
            otherwise = self.branch(args[-1], f"{where}[{len(args) - 1}]", depth, truth)
        else:
            otherwise = Expr("False", is_bool=True) if truth else Expr("None")
        branches.append(otherwise)
        if not parts:
            return Expr(otherwise.src, otherwise.is_bool)
        src = "(" + "".join(parts) + otherwise.src + ")"
        return Expr(src, is_bool=all(b.is_bool for b in branches))

    def branch(self, node: Any, path: str, depth: int, truth: bool) -> Expr:
        if truth:
            return Expr(self.truth(node, path, depth + 1), is_bool=True)
        return self.value(node, path, depth + 1)

    def and_or(self, op: str, args: list[Any], where: str, depth: int) -> Expr:
        """JavaScript's `and`/`or`: the deciding operand, tested for truthiness once."""
        exprs = [self.value(a, f"{where}[{i}]", depth + 1) for i, a in enumerate(args)]
        if not exprs:
            return Expr("None")
        if all(e.is_bool for e in exprs):
            return Expr("(" + f" {op} ".join(e.src for e in exprs) + ")", is_bool=True)
        parts: list[str] = []
        for e in exprs[:-1]:
            if e.is_const:
                if truthy(e.const) == (op == "and"):
                    continue  # does not decide
                return Expr("(" + "".join(parts) + e.src + ")")
            if e.is_bool:
                decided = "False" if op == "and" else "True"
                parts.append(f"{decided} if {'not ' if op == 'and' else ''}{e.src} else ")
                continue
            t = self.fresh("_t")
            test = self.test(Expr(f"({t} := {e.src})"), t)
            parts.append(f"{t} if {'not ' if op == 'and' else ''}{test} else ")
        return Expr("(" + "".join(parts) + exprs[-1].src + ")")

    def scoped(self, op: str, args: list[Any], where: str, depth: int) -> Expr:
        items = self.value(args[0] if args else None, f"{where}[0]", depth + 1)
        truth = op not in ("map", "reduce")
        inner = self.function(args[1] if len(args) > 1 else None, f"{where}[1]", truth)
        if op == "reduce":
            start = self.value(args[2], f"{where}[2]", depth + 1).src if len(args) > 2 else "None"
            return Expr(f"_reduce({start}, {items.src}, {inner})")
        t = self.fresh("_t")
        fast = _INLINE[op].format(f=inner, t=t)
        slow = f"_iterate({self.bind(op)}, {t}, {inner})"
        src = f"({fast} if type({t} := {items.src}) is list else {slow})"
        return Expr(src, is_bool=op in ("all", "none", "some"))

    # ------------------------------------------------------------ truthiness

    def truth(self, node: Any, path: str, depth: int) -> str:
        """Source of a Python bool: JavaScript's truthiness of the node's value."""
        if depth > MAX_DEPTH:
            return f"_truthy({self.closure(node, path).src})"
        if jl.is_logic(node):
            op, raw = next(iter(node.items()))
            where = f"{path}.{op}" if path else op
            args: list[Any] = raw if isinstance(raw, list) else [raw]
            if op in ("and", "or"):
                tests = [self.truth(a, f"{where}[{i}]", depth + 1) for i, a in enumerate(args)]
                return "(" + f" {op} ".join(tests) + ")" if tests else "False"
            if op in ("!", "!!") and len(args) == 1:
                test = self.truth(args[0], f"{where}[0]", depth + 1)
                return f"(not {test})" if op == "!" else test
            if op in ("if", "?:"):
                return self.if_(args, where, depth, truth=True).src
        return self.test(self.value(node, path, depth))

    def test(self, e: Expr, tmp: str = "") -> str:
        """JavaScript truthiness of a generated value, with the common cases inline."""
        if e.is_const:
            return repr(truthy(e.const))
        if e.is_bool:
            return e.src
        if not tmp:
            tmp = self.fresh("_t")
            e = Expr(f"({tmp} := {e.src})")
        rest = f"{tmp} is not False and {tmp} is not None and _truthy({tmp})"
        return f"({e.src} is True or {rest})"


def generate(logic: Any, slow: jl.Fn | None = None) -> tuple[str, str, dict[str, Any]]:
    """The source of a rule, the name of its function, and the namespace it runs in."""
    gen = Generator()
    name = gen.function(logic, "", truth=False, slow=slow)
    return "\n\n".join(gen.defs) + "\n", name, gen.ns


def compile_rule(logic: Any) -> jl.Fn:
    """The rule as one generated function, or as closures where generated source cannot be
    (too deep for Python's parser, too large): the same results either way."""
    slow = jl._compile(logic, "")  # refuses bad rules with the same errors and paths
    try:
        source, name, ns = generate(logic, slow)
        if len(source) > MAX_SOURCE:
            return slow
        exec(builtins.compile(source, FILENAME, "exec"), ns)  # noqa: S102 - our own source
    except (RecursionError, MemoryError, SyntaxError) as err:  # pragma: no cover - a safety net
        log.warning("jsonlogic rule left to the closure compiler: %r", err)
        return slow
    fn: jl.Fn = ns[name]
    return fn

"""A workspace's whole rule set as one generated function (ADR 0007).

It says which conditions are true and which false ones a timer may wait for, reading every
static path once for all rules (`Generator.hoist`). The per-rule functions of `codegen` are the
reference and the fallback; tests check the two agree.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from typing import Any

from kohtaamo.rules import jsonlogic as jl
from kohtaamo.rules.codegen import FILENAME, MAX_SOURCE, Generator

log = logging.getLogger("kohtaamo.rules.codegen")


def generate_set(
    conditions: list[Any], gates: list[Any] | None = None
) -> tuple[str, str, dict[str, Any]]:
    """One function for a whole rule set: (indexes of the true conditions, indexes of the false
    ones whose gate is open). A gate of None means "not asked"; True means always open.

    Every static path (`page.type`, `events.form_error`, ...) is read once at the top and shared
    by all rules: reading is free of side effects, so reading ahead of a short circuit is safe.
    """
    gen = Generator()
    gen.hoisted = {}
    gates = gates or [None] * len(conditions)
    tests = [gen.truth(c, f"[{i}]", 0) for i, c in enumerate(conditions)]
    opens = [
        None if g is None else "True" if g is True else gen.truth(g, f"gate[{i}]", 0)
        for i, g in enumerate(gates)
    ]
    name = gen.fresh("_set")
    lines = [f"def {name}(d):", "    if type(d) is not dict:", "        return None"]
    lines += [f"    {line}" for line in gen.hoist_lines]
    lines += ["    out = []", "    wait = []"]
    for i, (test, gate) in enumerate(zip(tests, opens, strict=True)):
        lines += [f"    if {test}:", f"        out.append({i})"]
        if gate is not None:
            lines += [f"    elif {gate}:", f"        wait.append({i})"]
    lines.append("    return out, wait")
    gen.defs.append("\n".join(lines))
    return "\n\n".join(gen.defs) + "\n", name, gen.ns


SetFn = Callable[[Any], tuple[list[int], list[int]] | None]


def compile_set(conditions: list[Any], gates: list[Any] | None = None) -> SetFn | None:
    """The rule set as one function (None for data that is not a dict), or None when it cannot
    be generated: the caller then runs each rule's own function, with the same results."""
    try:
        source, name, ns = generate_set(conditions, gates)
        if len(source) > MAX_SOURCE * 4:
            return None
        exec(builtins.compile(source, FILENAME, "exec"), ns)  # noqa: S102 - our own source
    except (jl.RuleError, RecursionError, MemoryError, SyntaxError) as err:
        log.warning("rule set left to per-rule functions: %r", err)
        return None
    fn: SetFn = ns[name]
    return fn

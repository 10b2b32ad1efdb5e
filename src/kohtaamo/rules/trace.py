"""An evaluation trace for "try a rule": the value of every operation in the condition."""

from __future__ import annotations

from typing import Any

from kohtaamo.rules import jsonlogic

# Their arguments are evaluated per item with the item as data: traced as a whole.
SCOPED = frozenset({"map", "filter", "reduce", "all", "none", "some"})
MAX_STEPS = 500


def trace(logic: Any, data: Any) -> tuple[Any, list[dict[str, Any]]]:
    steps: list[dict[str, Any]] = []

    def walk(node: Any, path: str) -> None:
        if len(steps) >= MAX_STEPS:
            return
        if isinstance(node, list):
            for i, x in enumerate(node):
                walk(x, f"{path}[{i}]")
            return
        if not jsonlogic.is_logic(node):
            return
        op, raw = next(iter(node.items()))
        where = f"{path}.{op}" if path else op
        steps.append({"path": where, "op": op, "value": jsonlogic.apply(node, data)})
        if op not in SCOPED:
            args = raw if isinstance(raw, list) else [raw]
            for i, a in enumerate(args):
                walk(a, f"{where}[{i}]")

    walk(logic, "")
    return jsonlogic.apply(logic, data), steps

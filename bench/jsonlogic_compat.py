"""Pass rate of kohtaamo.rules.jsonlogic on the json-logic/compat-tables suites (Apache-2.0),
read from ../shared/data/jsonlogic/compat_suites. Cases that expect an error pass when the engine
raises. Prints a markdown table per file.

    .venv/bin/python bench/jsonlogic_compat.py [--suites DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kohtaamo.rules import jsonlogic  # noqa: E402

DEFAULT = ROOT.parent / "shared/data/jsonlogic/compat_suites"


def same(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, float | int) and isinstance(got, float | int):
        return got == want or (math.isnan(got) and math.isnan(want))
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(same(got[k], want[k]) for k in want)
        )
    return bool(got == want)


def run(case: dict[str, Any]) -> bool:
    try:
        got = jsonlogic.apply(case["rule"], case.get("data"))
    except Exception:
        return "error" in case
    return "error" not in case and same(got, case.get("result"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--suites", type=Path, default=DEFAULT)
    args = ap.parse_args()
    rows = []
    total = passed = 0
    for path in sorted(args.suites.rglob("*.json")):
        cases = [c for c in json.loads(path.read_text()) if isinstance(c, dict)]
        if not cases:
            continue
        ok = sum(run(c) for c in cases)
        rows.append((str(path.relative_to(args.suites)), ok, len(cases)))
        total += len(cases)
        passed += ok
    print("| suite | passed | cases |")
    print("|---|---:|---:|")
    for name, ok, n in rows:
        print(f"| {name} | {ok} | {n} |")
    print(f"| **all** | **{passed}** ({passed / total:.1%}) | **{total}** |")


if __name__ == "__main__":
    main()

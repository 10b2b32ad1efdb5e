"""Rule evaluation speed: Kohtaamo's compiled JsonLogic against panzi-json-logic and
json-logic-qubit on the same rules and data, and the decision time for a workspace of 50 rules.

    .venv/bin/python bench/rules.py [--events 20000]

The two libraries both install a package named `json_logic`, so each is installed into its own
folder under /tmp/bench-libs (pip --target) and timed in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIBS = {"panzi-json-logic": "panzi-json-logic", "json-logic-qubit": "json-logic-qubit"}
TARGET = Path("/tmp/bench-libs")

# Rules shaped like the opening-rule templates, over the visitor context of docs/tracking.md.
BASE_RULES: list[Any] = [
    {">=": [{"var": "events.form_error"}, 2]},
    {"and": [{"==": [{"var": "page.type"}, "cart"]}, {">=": [{"var": "page.idle_seconds"}, 90]}]},
    {"and": [{"==": [{"var": "visit.number"}, 1]}, {"==": [{"var": "page.type"}, "product"]}]},
    {">": [{"var": "events.cart_add_failed"}, 0]},
    {
        "or": [
            {">": [{"var": "events.login_failed"}, 1]},
            {">": [{"var": "events.account_locked"}, 0]},
        ]
    },
    {
        "and": [
            {"in": ["kamerat", {"var": "cart.categories"}]},
            {"!": {"in": ["muistikortit", {"var": "cart.categories"}]}},
        ]
    },
    {
        "and": [
            {"var": "customer.identified"},
            {">": [{"var": "customer.orders"}, 0]},
            {"==": [{"var": "page.type"}, "faq"]},
        ]
    },
    {"<=": [9, {"var": "now.hour"}, 17]},
    {
        "and": [
            {"==": [{"var": "visit.utm.medium"}, "email"]},
            {"<": [{"var": "visit.seconds"}, 60]},
        ]
    },
    {"some": [{"var": "cart.lines"}, {">": [{"var": "unit_price"}, 50000]}]},
]


def rules(n: int) -> list[Any]:
    # Variants of the base rules with other thresholds, as a shop's 50 rules would be.
    out = []
    for i in range(n):
        rule = json.loads(json.dumps(BASE_RULES[i % len(BASE_RULES)]))
        out.append({"and": [rule, {">=": [{"var": "visit.pages_viewed"}, i % 4]}]})
    return out


def contexts(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "page": {
                    "type": ["cart", "product", "faq", "category"][i % 4],
                    "idle_seconds": i % 180,
                    "seconds_on_page": i % 300,
                    "url": f"https://shop.example/p/{i}",
                },
                "visit": {
                    "number": 1 + i % 3,
                    "pages_viewed": i % 9,
                    "seconds": i % 600,
                    "utm": {"medium": ["email", "cpc", None][i % 3]},
                },
                "events": {
                    "form_error": i % 3,
                    "cart_add_failed": i % 5 == 0,
                    "login_failed": i % 4,
                    "account_locked": 0,
                },
                "cart": {
                    "value": 1000 * (i % 70),
                    "categories": ["kamerat"] if i % 2 else ["muistikortit"],
                    "lines": [{"unit_price": 49900 if i % 2 else 1990, "quantity": 1}],
                },
                "customer": {"identified": i % 2 == 0, "orders": i % 3},
                "now": {"hour": i % 24},
            }
        )
    return out


CHILD = r"""
import json, sys, time
kind, n_rules, n_ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from rules import rules, contexts
R, C = rules(n_rules), contexts(n_ctx)
if kind == "kohtaamo":
    from kohtaamo.rules.jsonlogic import compile
    fns = [compile(r) for r in R]
    def run():
        for c in C:
            for f in fns:
                f(c)
else:
    from json_logic import jsonLogic
    def run():
        for c in C:
            for r in R:
                jsonLogic(r, c)
run()  # warm
best = min((lambda t0: (run(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(json.dumps({"seconds": best, "evaluations": n_rules * n_ctx}))
"""


def time_library(kind: str, n_rules: int, n_ctx: int) -> float:
    env = dict(os.environ)
    if kind != "kohtaamo":
        target = TARGET / kind
        if not target.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), LIBS[kind]],
                check=True,
            )
        env["PYTHONPATH"] = str(target)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(n_rules), str(n_ctx), str(Path(__file__).parent)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    return float(result["seconds"]) / result["evaluations"] * 1e6  # µs per evaluation


def decision_times(n_rules: int, n_events: int) -> list[float]:
    from kohtaamo.rules.jsonlogic import compile, truthy

    fns = [compile(r) for r in rules(n_rules)]
    ctxs = contexts(n_events)
    times = []
    for c in ctxs:
        t0 = time.perf_counter()
        for f in fns:  # every rule, highest priority first; count all to be pessimistic
            truthy(f(c))
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=20000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    speed = {k: time_library(k, 50, 2000) for k in ("kohtaamo", *LIBS)}
    times = sorted(decision_times(50, args.events))
    p50 = statistics.median(times)
    p99 = times[int(len(times) * 0.99) - 1]
    print("| engine | µs per rule evaluation | Kohtaamo is faster by |")
    print("|---|---:|---:|")
    ours = speed["kohtaamo"]
    for k, us in speed.items():
        factor = "" if k == "kohtaamo" else f"{us / ours:.1f}x"
        print(f"| {k} | {us:.2f} | {factor} |")
    print(
        f"\n50 rules per event, {args.events} events: decision p50 {p50:.3f} ms, p99 {p99:.3f} ms"
    )


if __name__ == "__main__":
    main()

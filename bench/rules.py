"""Rule evaluation speed: Kohtaamo's compiled JsonLogic against panzi-json-logic and
json-logic-qubit on the same rules and data, and the decision time for a workspace of 50 rules.

    .venv/bin/python bench/rules.py [--events 20000] [--repeat 5] [--no-doc]

The two libraries both install a package named `json_logic`, so each is installed into its own
folder under /tmp/bench-libs (pip --target, never into the venv) and timed in its own process.
Every engine also reports how many of its results were truthy: the counts must be equal, so the
engines are compared on the same answers. `--repeat N` runs everything N times and reports the
median (the machine may be shared; runs during which other processes used more than 20 % of a
core are marked noisy). Targets: compiled evaluation >= 10x faster than both libraries, and the
50-rule decision p99 <= 1 ms. The results, with the machine and the exact command, replace the
section between the bench/rules.py markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LIBS = {"panzi-json-logic": "panzi-json-logic", "json-logic-qubit": "json-logic-qubit"}
TARGET = Path("/tmp/bench-libs")
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench/rules.py: begin (generated, do not edit by hand) -->"
END = "<!-- bench/rules.py: end -->"
N_RULES, N_CONTEXTS = 50, 2000
TARGET_FACTOR = 10.0
TARGET_P99_MS = 1.0
NOISY = 20.0  # % of a core used by other processes during a run that marks it as disturbed
ENGINES = {
    "kohtaamo": "kohtaamo `compile` (generated Python source)",
    "kohtaamo-closures": "kohtaamo closures (what `apply` runs; `compile` before)",
}

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
sys.path[:0] = [sys.argv[4], sys.argv[5]]
from rules import rules, contexts
from kohtaamo.rules.js import truthy
R, C = rules(n_rules), contexts(n_ctx)
if kind.startswith("kohtaamo"):
    from kohtaamo.rules.jsonlogic import _compile, compile
    fns = [compile(r) if kind == "kohtaamo" else _compile(r, "") for r in R]
    def run():
        for c in C:
            for f in fns:
                f(c)
    def answers():
        return [f(c) for c in C for f in fns]
else:
    from json_logic import jsonLogic
    def run():
        for c in C:
            for r in R:
                jsonLogic(r, c)
    def answers():
        return [jsonLogic(r, c) for c in C for r in R]
truthy_count = sum(1 for v in answers() if truthy(v))
run()  # warm
t0 = time.perf_counter(); run(); once = time.perf_counter() - t0
loops = max(1, int(0.2 / once))  # a pass lasts at least 0.2 s
passes = []
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(loops):
        run()
    passes.append((time.perf_counter() - t0) / loops)
print(json.dumps({"seconds": min(passes), "evaluations": n_rules * n_ctx, "truthy": truthy_count}))
"""


def machine_ticks() -> int:
    """Busy jiffies summed over CPUs, from /proc/stat (0 where there is none)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0
    return sum(v) - v[3] - (v[4] if len(v) > 4 else 0)


def library_version(kind: str) -> str:
    for meta in (TARGET / kind).glob("*.dist-info/METADATA"):
        lines = meta.read_text(errors="replace").splitlines()
        name = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("Name:")), "")
        if name.lower() == kind:
            return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("Version:")), "")
    return ""


def time_library(kind: str, n_rules: int, n_ctx: int) -> dict[str, Any]:
    """One run of one engine in its own process: µs per evaluation, truthy answers, noise."""
    env = dict(os.environ)
    if not kind.startswith("kohtaamo"):
        target = TARGET / kind
        if not target.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), LIBS[kind]],
                check=True,
            )
        env["PYTHONPATH"] = str(target)
    ticks0, t0 = machine_ticks(), time.monotonic()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-c", CHILD, kind, str(n_rules), str(n_ctx), str(BENCH)]
    out = subprocess.run(
        [*cmd, str(ROOT / "src")], env=env, check=True, capture_output=True, text=True
    ).stdout
    elapsed = time.monotonic() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime
    hz = os.sysconf("SC_CLK_TCK")
    other = max(0.0, ((machine_ticks() - ticks0) / hz - ours) / elapsed * 100)
    result = json.loads(out)
    return {
        "us": float(result["seconds"]) / result["evaluations"] * 1e6,
        "truthy": int(result["truthy"]),
        "other": other,
    }


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


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * q) - 1)]


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    source = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "source": source or "unknown",
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    kinds = [*ENGINES, *LIBS]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    p50s, p99s = [], []
    for i in range(args.repeat):
        for k in kinds:
            runs[k].append(time_library(k, N_RULES, N_CONTEXTS))
            r = runs[k][-1]
            noisy = " (noisy)" if r["other"] > NOISY else ""
            print(f"run {i + 1}/{args.repeat} {k}: {r['us']:.3f} µs{noisy}", file=sys.stderr)
        times = sorted(decision_times(N_RULES, args.events))
        p50s.append(statistics.median(times))
        p99s.append(percentile(times, 0.99))
        print(f"run {i + 1}/{args.repeat} decisions: p99 {p99s[-1]:.3f} ms", file=sys.stderr)
    us = {k: statistics.median(r["us"] for r in runs[k]) for k in kinds}
    return {"runs": runs, "us": us, "p50": statistics.median(p50s), "p99s": p99s}


def engine_name(kind: str) -> str:
    if kind in ENGINES:
        return ENGINES[kind]
    version = library_version(kind)
    return f"{kind} {version}".strip()


def results_table(m: dict[str, Any], repeat: int) -> str:
    ours = m["us"]["kohtaamo"]
    median = f" (median of {repeat})" if repeat > 1 else ""
    lines = [
        f"| engine | µs per rule evaluation{median} | kohtaamo `compile` is faster by |",
        "|---|---:|---:|",
    ]
    for k, us in m["us"].items():
        factor = "" if k == "kohtaamo" else f"{us / ours:.1f}x"
        lines.append(f"| {engine_name(k)} | {us:.3f} | {factor} |")
    return "\n".join(lines)


def verdicts(m: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, passed) for each target."""
    ours, p99 = m["us"]["kohtaamo"], statistics.median(m["p99s"])
    out = []
    for k in LIBS:
        factor, theirs = m["us"][k] / ours, m["us"][k]
        measured = f"{factor:.1f}x ({theirs:.3f} / {ours:.3f} µs)"
        out.append(
            (
                f"`compile` >= {TARGET_FACTOR:.0f}x faster than {k}",
                measured,
                factor >= TARGET_FACTOR,
            )
        )
    out.append(
        (
            f"{N_RULES}-rule decision p99 <= {TARGET_P99_MS:g} ms",
            f"{p99:.3f} ms",
            p99 <= TARGET_P99_MS,
        )
    )
    counts = sorted({r["truthy"] for runs in m["runs"].values() for r in runs})
    out.append(
        ("every engine gives the same answers", f"truthy results: {counts}", len(counts) == 1)
    )
    return out


def report(m: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    mach = machine()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    every = "; ".join(
        f"{k}: "
        + " / ".join(f"{r['us']:.3f}" + (" (noisy)" if r["other"] > NOISY else "") for r in runs)
        for k, runs in m["runs"].items()
    )
    p99s = " / ".join(f"{v:.3f}" for v in m["p99s"])
    verdict = "\n".join(
        f"| {target} | {measured} | {'PASS' if ok else 'FAIL'} |"
        for target, measured, ok in verdicts(m)
    )
    passed = all(ok for *_, ok in verdicts(m))
    truthy = m["runs"]["kohtaamo"][0]["truthy"]
    runs = f"{args.repeat} runs" if args.repeat > 1 else "1 run"
    p99 = statistics.median(m["p99s"])
    return f"""{BEGIN}
## Rule evaluation: `bench/rules.py`

Generated by the command below on {when}; re-run it to refresh this section.

```
{command}
```

- Machine: {mach["cpus"]} CPUs ({mach["cpu"]}), {mach["os"]}; {mach["python"]}; source
  `{mach["source"]}`.
- Workload: {N_RULES} rules shaped like the opening-rule templates (`BASE_RULES` in the
  script, each AND-ed with a pages-viewed threshold) over {N_CONTEXTS:,} visitor contexts shaped
  like docs/tracking.md's: {N_RULES * N_CONTEXTS:,} evaluations a pass. Each engine runs in its
  own process (the two libraries both ship a package named `json_logic`; each is installed with
  `pip --target` under {TARGET}). After a warm-up, a run's time is the best of 5 passes of at
  least 0.2 s; the table has each engine's median over {runs}, and the factors are ratios of
  those medians. "(noisy)" marks a run during which other processes used more than
  {NOISY:.0f} % of a core.
- Same answers: each engine counts its truthy results over the workload ({truthy:,} of
  {N_RULES * N_CONTEXTS:,} for kohtaamo); the counts must be equal (last row of the targets).

{results_table(m, args.repeat)}

Every run, µs per evaluation: {every}.

Decision time of a workspace of {N_RULES} rules (every rule evaluated by its `compile`d
function, in-process, {args.events:,} events): p50 {m["p50"]:.3f} ms, **p99 {p99:.3f} ms**
(the median of the runs' p99s: {p99s} ms).

| target | measured | result |
|---|---|---|
{verdict}

Overall: **{"PASS" if passed else "FAIL"}**.
{END}
"""


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + section.strip() + tail
    else:
        text = text.rstrip() + "\n\n" + section
    DOC.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=20000, help="events for the decision times")
    ap.add_argument("--repeat", type=int, default=1, help="runs of everything; the median is kept")
    ap.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.relative_to(ROOT)}")
    args = ap.parse_args()
    command = " ".join([".venv/bin/python", "bench/rules.py", *sys.argv[1:]])
    sys.path.insert(0, str(ROOT / "src"))
    m = measure(args)
    print(results_table(m, args.repeat))
    print()
    for target, measured, ok in verdicts(m):
        print(f"{'PASS' if ok else 'FAIL'}  {target}: {measured}")
    print(
        f"\n{N_RULES} rules per event, {args.events} events: decision p50 {m['p50']:.3f} ms, "
        f"p99 {statistics.median(m['p99s']):.3f} ms"
    )
    if not args.no_doc:
        write_doc(report(m, args, command))
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 0 if all(ok for *_, ok in verdicts(m)) else 1


if __name__ == "__main__":
    sys.exit(main())

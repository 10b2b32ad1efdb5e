"""Reports and the archive fill at scale.

    .venv/bin/python bench/analytics.py [--events 10000000] [--visits 1000000] [--rules 50]
                                        [--fill-events 500000] [--doc] [--snapshot-only]

1. Reports: a synthetic archive (DuckDB) of `--events` events in `--visits` visits (2 visits per
   visitor) over 30 days, an exposure to one of `--rules` rules on most visits (10 % held out),
   orders for purchases (some on later visits), conversations, identifies. Then, timed (best and
   worst of 5): the rule report for every rule with uplift (experiments.experiments) and the
   5-step funnel over the 30 days (funnel.funnel). Target: each <= 1 s.
2. Fill: `--fill-events` events written into a fresh SQLite primary database (the schema the
   migrations make), then `fill_events` copies them into an empty archive. Target: >= 20,000
   events/s.
3. Snapshot: publishing the archive for the readers in every worker (ADR 0015): checkpoint,
   copy, fsync, switch the pointer; best, median and worst of 3.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)


def build_archive(path: str, events: int, visits: int, rules: int) -> None:
    from kohtaamo.analytics.archive import Archive

    archive = Archive(path)
    con = archive._con  # the bench builds its data with DuckDB's own SQL, in bulk
    per_visit = max(events // visits, 1)
    t0 = time.perf_counter()
    con.execute(
        f"""
        INSERT INTO events
        SELECT i AS seq, 1 AS workspace_id,
               'v' || ((i // {per_visit}) // 2) AS visitor_key,
               's' || (i // {per_visit}) AS visit_key,
               CASE WHEN hash(i) % 100 < 80 THEN 'page_view' WHEN hash(i) % 100 < 90 THEN 'cart_add'
                    WHEN hash(i) % 100 < 95 THEN 'checkout_step' WHEN hash(i) % 100 < 97 THEN 'purchase'
                    WHEN hash(i) % 100 < 98 THEN 'identify' ELSE 'form_error' END AS type,
               TIMESTAMPTZ '{DAY0.isoformat()}' + to_seconds(((i // {per_visit}) * 2591) % 2592000)
                 + to_seconds(i % {per_visit} * 20) AS ts,
               TIMESTAMPTZ '{DAY0.isoformat()}' AS received_at,
               CASE WHEN hash(i) % 100 = 97 THEN '{{"customer_id": "c' || ((i // {per_visit}) // 6) || '"}}'
                    ELSE '{{"page_type": "product"}}' END AS props
        FROM range({events}) t(i)
        """  # noqa: S608 - numbers only
    )
    con.execute(
        f"""
        INSERT INTO exposures
        SELECT v AS id, 1, (hash(v) % {rules}) + 1 AS rule_id, 'v' || (v // 2), 's' || v, NULL,
               TIMESTAMPTZ '{DAY0.isoformat()}' + to_seconds((v * 2591) % 2592000),
               CASE WHEN hash(v * 7) % 10 = 0 THEN 'held_out' ELSE 'fired' END, NULL, NULL
        FROM range({visits}) t(v) WHERE v % 5 <> 0
        """  # noqa: S608
    )
    con.execute(
        f"""
        INSERT INTO orders
        SELECT seq, 1, 'o' || seq, CASE WHEN seq % 3 = 0 THEN 'c' || ((seq // {per_visit}) // 6) END,
               visitor_key, NULL, 2000 + (hash(seq) % 20000), 0, 'EUR', 'placed', 'api',
               ts + INTERVAL 1 DAY * (seq % 3), ts
        FROM events WHERE type = 'purchase'
        """  # noqa: S608
    )
    con.execute(
        f"""
        INSERT INTO conversations
        SELECT v, 1, 'v' || (v // 2), 's' || v, NULL, 'resolved', 'rule', 1, (hash(v) % {rules}) + 1,
               v, NULL, false, 4, TIMESTAMPTZ '{DAY0.isoformat()}' + to_seconds((v * 2591) % 2592000),
               NULL, NULL, CASE WHEN v % 3 = 0 THEN 'up' END, NULL
        FROM range({visits}) t(v) WHERE v % 10 = 1
        """  # noqa: S608
    )
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
        for t in ("events", "exposures", "orders", "conversations")
    }
    archive.close()
    print(f"built the archive in {time.perf_counter() - t0:.1f} s: {counts}", flush=True)


def time_reports(path: str) -> dict[str, list[float]]:
    from kohtaamo.analytics import experiments
    from kohtaamo.analytics.archive import Archive
    from kohtaamo.analytics.funnel import funnel

    archive = Archive(path)
    out: dict[str, list[float]] = {"rules": [], "funnel": []}
    try:
        for _ in range(5):
            t = time.perf_counter()
            found = experiments.experiments(archive, 1)
            out["rules"].append(time.perf_counter() - t)
            t = time.perf_counter()
            steps = funnel(archive, 1, DAY0, datetime(2026, 10, 31, tzinfo=UTC))
            out["funnel"].append(time.perf_counter() - t)
        print(f"rules reported: {len(found)}; funnel: {[s.people for s in steps]}", flush=True)
    finally:
        archive.close()
    return out


def time_snapshot(path: str) -> tuple[int, list[float]]:
    """Publishing a snapshot for the readers (ADR 0015): checkpoint, copy, fsync, switch; the
    archive's size and the seconds of 3 publishes."""
    import os

    from kohtaamo.analytics import snapshots
    from kohtaamo.analytics.archive import Archive

    runs = []
    for _ in range(3):
        t = time.perf_counter()
        archive = Archive(path)  # what a pass does after filling: checkpoint, close, publish
        archive.checkpoint()
        archive.close()
        snapshots.publish(path)
        runs.append(time.perf_counter() - t)
    return os.path.getsize(path), runs


def time_fill(n: int, workdir: Path) -> float:
    from kohtaamo.analytics import fill
    from kohtaamo.analytics.archive import Archive
    from kohtaamo.db.engine import make_engine, make_sessionmaker
    from kohtaamo.db.migrate import upgrade

    db = workdir / "primary.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO workspaces (id, name, site_key, allowed_origins, timezone, locale, currency,"
        " widget, created_at) VALUES (1, 'b', 'k', '[]', 'UTC', 'fi', 'EUR', '{}', '2026-10-01')"
    )
    rows = (
        (1, str(uuid.UUID(int=i)), f"v{i // 20}", f"s{i // 10}", "page_view",
         "2026-10-01 00:00:00.000000", "2026-10-01 00:00:00.000000",
         '{"url": "https://shop.example/p", "page_type": "product"}', 0, "server")
        for i in range(n)
    )  # fmt: skip
    con.executemany(
        "INSERT INTO events (workspace_id, event_id, visitor_key, visit_key, type, ts,"
        " received_at, props, clamped, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.commit()
    con.close()

    async def run() -> float:
        engine = make_engine(url)
        archive = Archive(str(workdir / "fill.duckdb"))
        try:
            t = time.perf_counter()
            copied = await fill.fill_events(make_sessionmaker(engine), archive, settle=0)
            took = time.perf_counter() - t
            assert copied == n, copied
            return n / took
        finally:
            archive.close()
            await engine.dispose()

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--visits", type=int, default=1_000_000)
    ap.add_argument("--rules", type=int, default=50)
    ap.add_argument("--fill-events", type=int, default=500_000)
    ap.add_argument("--doc", action="store_true")
    ap.add_argument(
        "--snapshot-only", action="store_true", help="only time publishing a snapshot (ADR 0015)"
    )
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kohtaamo-bench-analytics-"))
    path = str(workdir / "archive.duckdb")
    build_archive(path, args.events, args.visits, args.rules)
    size, runs = time_snapshot(path)
    snap = (
        f"| snapshot publish (checkpoint, copy {size / 1e6:,.0f} MB, fsync, switch) "
        f"| {min(runs):.2f} s | {statistics.median(runs):.2f} s | {max(runs):.2f} s | | |"
    )
    if args.snapshot_only:
        print(snap)
        return
    times = time_reports(path)
    rate = time_fill(args.fill_events, workdir)
    lines = [
        _line(f"rule report, {args.rules} rules with uplift", times["rules"]),
        _line("5-step funnel over 30 days", times["funnel"]),
        snap,
        f"| archive fill (SQLite → DuckDB), {args.fill_events:,} events | {rate:,.0f} events/s | | | >= 20,000/s | {'PASS' if rate >= 20_000 else 'FAIL'} |",
    ]
    print("\n".join(lines))
    if args.doc:
        write_doc(args, lines)


def _line(what: str, runs: list[float]) -> str:
    med = statistics.median(runs)
    verdict = "PASS" if max(runs) <= 1 else ("PASS (median)" if med <= 1 else "FAIL")
    return f"| {what} | {min(runs):.3f} s | {med:.3f} s | {max(runs):.3f} s | <= 1 s | {verdict} |"


def write_doc(args: argparse.Namespace, lines: list[str]) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    begin, end = (
        "<!-- bench/analytics.py: begin (generated, do not edit by hand) -->",
        "<!-- bench/analytics.py: end -->",
    )
    block = "\n".join(
        [
            begin,
            "## Reports and the archive: `bench/analytics.py`",
            "",
            f"Generated by `.venv/bin/python bench/analytics.py {' '.join(sys.argv[1:])}` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a synthetic archive of "
            f"{args.events:,} events in {args.visits:,} visits over 30 days with exposures to "
            f"{args.rules} rules, orders and conversations; best, median and worst of 5 runs (the first is cold).",
            "",
            "| what | best | median | worst | target | |",
            "|---|---:|---:|---:|---|---|",
            *lines,
            end,
        ]
    )
    text = doc.read_text()
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


if __name__ == "__main__":
    main()

"""Live chat on one worker: 1,000 visitor websockets and 20 agent consoles, messages at a fixed rate.

    .venv/bin/python bench/chat.py [--db sqlite] [--db postgres] [--visitors 1000] [--agents 20]
                                   [--rate 200] [--duration 30] [--repeat 1] [--doc]

A real `kohtaamo serve` process (one worker, in-process hub) on a fresh database; 20 agents
(capacity 50 each, so every visitor's chat is assigned) with staff sessions made through the
product's own auth service; then, from this process, `--visitors` visitor sockets and `--agents`
agent sockets. Each visitor first opens its conversation (warm-up, not measured). Then visitors
send `--rate` messages a second in total, spread evenly over random visitors, for `--duration`
seconds. The latency of a message is the time from the visitor's send to the moment the agent it
is assigned to receives it (every agent hears the workspace, so 20 frames leave per message).

Also reported: the acknowledgement time (send → `ack`, i.e. stored and committed), messages lost
(must be 0), and the server's memory per connection: its RSS with all sockets open and idle,
minus its RSS before any socket, divided by the number of sockets.

Target (issue 4): visitor → agent p99 <= 50 ms at 200 messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import websockets  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/kohtaamo_bench_chat"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) if m else 0


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def server_gc(port: int) -> tuple[int, float]:
    """From the server's /metrics: collector pauses of 50 ms or more, and all pause time."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = sum(
        float(v) for v in re.findall(r"^kohtaamo_gc_pause_seconds_sum\{[^}]*\} (\S+)", text, re.M)
    )
    slow = 0
    for gen in set(re.findall(r'kohtaamo_gc_pause_seconds_count\{generation="(\w+)"\}', text)):
        count = re.search(rf'kohtaamo_gc_pause_seconds_count\{{generation="{gen}"\}} (\S+)', text)
        under = re.search(
            rf'kohtaamo_gc_pause_seconds_bucket\{{generation="{gen}",le="0.05"\}} (\S+)', text
        )
        if count and under:
            slow += int(float(count.group(1)) - float(under.group(1)))
    return slow, total


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def seed(url: str, agents: int) -> tuple[str, list[str]]:
    """A workspace and `agents` agents with capacity 50, each with a console session cookie."""
    from kohtaamo.auth import service as auth
    from kohtaamo.auth.models import Role
    from kohtaamo.chat.models import ChatAgent
    from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
    from kohtaamo.kit.clock import utcnow
    from kohtaamo.shops import service as shops
    from kohtaamo.shops.schemas import WorkspaceCreate

    engine = make_engine(url, pool_size=1)
    tokens = []
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            ws = await shops.create_workspace(
                s, data=WorkspaceCreate(name="Bench", allowed_origins=[]), owner=None
            )
            for i in range(agents):
                user = await auth.create_user(
                    s, email=f"agent{i}@bench.example", name=f"Agent {i}", password="x" * 12
                )
                await auth.add_member(s, workspace_id=ws.id, user=user, role=Role.agent)
                s.add(
                    ChatAgent(
                        workspace_id=ws.id,
                        user_id=user.id,
                        capacity=50,
                        status="online",
                        team_id=None,
                        updated_at=utcnow(),
                    )
                )
                token, _ = await auth.start_session(s, user=user, kind="cookie", days=1)
                tokens.append(token)
            return ws.site_key, tokens
    finally:
        await engine.dispose()


class Agent:
    def __init__(self, conn: Any, user_id: int | None = None) -> None:
        self.conn = conn
        self.user_id = user_id


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc", sql], check=True
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="kohtaamo-bench-chat-"))
    if args.db_name == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        url = PG
        psql("DROP DATABASE IF EXISTS kohtaamo_bench_chat WITH (FORCE)")
        psql("CREATE DATABASE kohtaamo_bench_chat")
    from kohtaamo.db.migrate import upgrade

    upgrade(url)
    site_key, tokens = asyncio.run(seed(url, args.agents))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "KOHTAAMO_DATABASE_URL": url,
        "KOHTAAMO_PUBLIC_BASE_URL": base,
        "KOHTAAMO_SECRET_KEY": "bench-secret-key-0123456789abcdefghij",
        "KOHTAAMO_LOG_LEVEL": "WARNING",
    }
    env.pop("KOHTAAMO_REDIS_URL", None)
    exe = shutil.which("kohtaamo", path=str(Path(sys.executable).parent)) or "kohtaamo"
    logf = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=logf,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(base + "/readyz", timeout=1).status == 200:  # noqa: S310
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("server did not start:\n" + (workdir / "server.log").read_text())
        return asyncio.run(measure(args, proc.pid, port, site_key, tokens))
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()


async def measure(
    args: argparse.Namespace, pid: int, port: int, site_key: str, tokens: list[str]
) -> dict[str, Any]:
    host = f"127.0.0.1:{port}"
    await asyncio.sleep(1.0)
    rss_idle = rss_kb(pid)
    sent_at: dict[str, float] = {}
    ack_ms: list[float] = []
    lat_ms: list[float] = []
    assignee: dict[int, int] = {}  # conversation -> agent user id
    got: set[str] = set()
    slow_at: list[float] = []  # when the slow messages were sent (to tell one stall from many)
    measuring = False

    agents: list[Agent] = []
    for token in tokens:
        conn = await websockets.connect(
            f"ws://{host}/ws/agent",
            additional_headers={"Origin": f"http://{host}", "Cookie": f"kohtaamo_session={token}"},
            max_queue=None,
            compression=None,
        )
        ready = json.loads(await conn.recv())
        agents.append(Agent(conn, ready["user_id"]))

    async def agent_reader(agent: Agent) -> None:
        async for raw in agent.conn:
            now = time.perf_counter()
            if '"type":"message"' in raw:
                f = json.loads(raw)
                if (
                    measuring
                    and f["author"] == "visitor"
                    and assignee.get(f["conversation_id"]) == agent.user_id
                ):
                    key = f["body"]
                    t0 = sent_at.get(key)
                    if t0 is not None and key not in got:
                        got.add(key)
                        lat_ms.append((now - t0) * 1000)
                        if now - t0 > 0.05:
                            slow_at.append(round(t0, 1))
            elif '"type":"notice"' in raw:
                f = json.loads(raw)
                assignee[f["conversation_id"]] = f["user_id"]

    readers = [asyncio.create_task(agent_reader(a)) for a in agents]

    visitors = []
    for i in range(args.visitors):
        conn = await websockets.connect(
            f"ws://{host}/ws/visitor?site_key={site_key}&visitor_id=bv{i}&visit_id=bs{i}",
            max_queue=None,
            compression=None,
        )
        await conn.recv()  # ready
        visitors.append(conn)
    await asyncio.sleep(2.0)
    rss_open = rss_kb(pid)
    sockets = len(visitors) + len(agents)
    per_conn_kb = (rss_open - rss_idle) / sockets
    log(
        f"{sockets} sockets open: server RSS {rss_idle / 1024:.0f} -> {rss_open / 1024:.0f} MiB, "
        f"{per_conn_kb:.1f} KiB per connection"
    )

    pending_acks: dict[str, float] = {}

    async def visitor_reader(conn: Any) -> None:
        async for raw in conn:
            if '"type":"ack"' in raw:
                f = json.loads(raw)
                t0 = pending_acks.pop(f["client_id"], None)
                if t0 is not None and measuring:
                    ack_ms.append((time.perf_counter() - t0) * 1000)

    vreaders = [asyncio.create_task(visitor_reader(c)) for c in visitors]

    # Warm-up: every visitor opens its conversation (routing assigns it), not measured.
    log("warm-up: opening one conversation per visitor")
    for i, conn in enumerate(visitors):
        cid = uuid.uuid4().hex
        pending_acks[cid] = time.perf_counter()
        await conn.send(json.dumps({"type": "message", "client_id": cid, "body": f"hei {i}"}))
        if i % 50 == 49:
            await asyncio.sleep(0.25)
    for _ in range(200):
        if len(assignee) >= len(visitors):
            break
        await asyncio.sleep(0.1)
    log(f"{len(assignee)} conversations assigned")
    await asyncio.sleep(1.0)

    # The load generator must not add pauses of its own to what it measures: its garbage (1,000+
    # sockets' worth) is frozen out of the collector's scans.
    gc.collect()
    gc.freeze()
    gc_slow0, gc_total0 = server_gc(port)
    # A warm-up ack this client has not read yet is not a measured message.
    pending_acks.clear()
    measuring = True
    cpu0 = cpu_seconds(pid)
    total = int(args.rate * args.duration)
    interval = 1.0 / args.rate
    start = time.perf_counter()
    log(f"sending {total} messages at {args.rate}/s")
    for n in range(total):
        due = start + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = random.choice(visitors)
        key = f"m{n}-{uuid.uuid4().hex[:8]}"
        cid = uuid.uuid4().hex
        now = time.perf_counter()
        sent_at[key] = now
        pending_acks[cid] = now
        await conn.send(json.dumps({"type": "message", "client_id": cid, "body": key}))
    elapsed = time.perf_counter() - start
    for _ in range(100):
        if len(got) >= total:
            break
        await asyncio.sleep(0.1)
    cpu = cpu_seconds(pid) - cpu0
    measuring = False
    gc_slow, gc_total = server_gc(port)
    gc_slow, gc_total = gc_slow - gc_slow0, gc_total - gc_total0  # while measuring only
    for task in readers + vreaders:
        task.cancel()
    for conn in visitors:
        await conn.close()
    for a in agents:
        await a.conn.close()
    return {
        "sockets": sockets,
        "rss_idle_mib": rss_idle / 1024,
        "rss_open_mib": rss_open / 1024,
        "per_conn_kib": per_conn_kb,
        "sent": total,
        "rate": total / elapsed,
        "received": len(got),
        "lost": total - len(got),
        "p50": pct(lat_ms, 50),
        "p90": pct(lat_ms, 90),
        "p99": pct(lat_ms, 99),
        "max": max(lat_ms) if lat_ms else float("nan"),
        "mean": statistics.fmean(lat_ms) if lat_ms else float("nan"),
        "ack_p50": pct(ack_ms, 50),
        "ack_p99": pct(ack_ms, 99),
        "server_cpu": cpu / elapsed,
        "stalls": len({round(t) for t in slow_at}),
        "gc_slow": gc_slow,
        "gc_total": gc_total,
    }


def report(db: str, args: argparse.Namespace, r: dict[str, Any]) -> None:
    target = "PASS" if r["p99"] <= 50 and r["lost"] == 0 else "FAIL"
    print()
    print(f"database            {db}")
    print(f"sockets             {r['sockets']} ({args.visitors} visitors, {args.agents} agents)")
    print(
        f"memory              {r['per_conn_kib']:.1f} KiB per connection "
        f"(server RSS {r['rss_idle_mib']:.0f} -> {r['rss_open_mib']:.0f} MiB)"
    )
    print(
        f"messages            {r['sent']} sent at {r['rate']:.0f}/s, {r['received']} received, "
        f"{r['lost']} lost"
    )
    print(
        f"visitor -> agent    p50 {r['p50']:.1f} ms  p90 {r['p90']:.1f} ms  p99 {r['p99']:.1f} ms  "
        f"max {r['max']:.1f} ms"
    )
    print(f"send -> ack         p50 {r['ack_p50']:.1f} ms  p99 {r['ack_p99']:.1f} ms")
    print(f"server CPU          {r['server_cpu'] * 100:.0f} % of one core")
    print(f"slow (> 50 ms)      in {r['stalls']} distinct seconds of the run")
    print(
        f"server GC           {r['gc_slow']} pauses >= 50 ms, {r['gc_total'] * 1000:.0f} ms paused in all"
    )
    print(f"target p99 <= 50 ms {target}", flush=True)


def write_doc(args: argparse.Namespace, runs: list[tuple[str, dict[str, Any]]]) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    begin, end = (
        "<!-- bench/chat.py: begin (generated, do not edit by hand) -->",
        "<!-- bench/chat.py: end -->",
    )
    cmd = " ".join(["bench/chat.py", *sys.argv[1:]])
    lines = [
        begin,
        "## Live chat: `bench/chat.py`",
        "",
        f"Generated by `.venv/bin/python {cmd}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"One `kohtaamo serve` worker (in-process hub), {args.visitors} visitor websockets and "
        f"{args.agents} agent consoles (capacity 50 each) from one client process on the same "
        f"2-core machine; after a warm-up that opens one conversation per visitor, visitors send "
        f"{args.rate:.0f} messages/s for {args.duration:.0f} s. Latency: the visitor's send to the "
        "moment the assigned agent's socket receives it. Memory: the server's RSS with every "
        "socket open and idle, minus its RSS before any, per socket. Target: p99 <= 50 ms.",
        "",
        "| database | run | sent | lost | p50 ms | p90 ms | p99 ms | max ms | ack p50 ms | ack p99 ms | seconds with a message > 50 ms | server GC pauses >= 50 ms | server CPU | KiB / connection | p99 target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    counts: dict[str, int] = {}
    for db, r in runs:
        counts[db] = counts.get(db, 0) + 1
        ok = "PASS" if r["p99"] <= 50 and r["lost"] == 0 else "FAIL"
        lines.append(
            f"| {db} | {counts[db]} | {r['sent']} | {r['lost']} | {r['p50']:.1f} | {r['p90']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} | {r['ack_p50']:.1f} | {r['ack_p99']:.1f} | "
            f"{r['stalls']} | {r['gc_slow']} | "
            f"{r['server_cpu'] * 100:.0f} % | {r['per_conn_kib']:.1f} | {ok} |"
        )
    lines.append(end)
    text = doc.read_text()
    block = "\n".join(lines)
    if begin in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
    log(f"wrote {doc}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", choices=["sqlite", "postgres"], action="append")
    ap.add_argument("--visitors", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--doc", action="store_true", help="write the results into docs/benchmarks.md")
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000+ sockets need descriptors
    runs = []
    for _ in range(args.repeat):
        for db in args.db or ["sqlite"]:
            args.db_name = db
            r = run(args)
            report(db, args, r)
            runs.append((db, r))
    if args.doc:
        write_doc(args, runs)


if __name__ == "__main__":
    main()

"""Tracking throughput benchmark: one server worker, SQLite and PostgreSQL, wrk as the client.

    .venv/bin/python bench/track.py [--duration 10] [--connections 32] [--databases sqlite,postgres]

For each database it makes a fresh database (a new SQLite file, or a dropped and re-created
PostgreSQL database), runs `kohtaamo migrate` and `kohtaamo create-workspace`, starts
`kohtaamo serve --workers 1` on a free port, waits for /readyz, warms up, and then measures with
wrk (`--latency`):

  bare    GET /healthz: an endpoint that does nothing, the ceiling for this server and client
  single  POST /api/v1/track with one event per request
  rules   the same, to a second workspace with --rules (50) enabled opening rules: every event
          runs the live decision (context, all rules, exposures, the next timer)
  batch   POST /api/v1/track with 50 events per request (a mix of page_view, cart_add, form_error)

/track answers only after its events are committed, and after each track run the script proves
it: the rows added to `events` must equal the events the 2xx answers accepted, give or take the
requests still in flight when wrk stopped (at most connections x batch size, reported). Any
non-2xx answer, socket error or duplicate fails the run.

Targets (the issues): single-event requests/s >= 50 % of the bare endpoint's; >= 20,000 events/s
in batches of 50; with 50 rules, >= 80 % of the single-event requests/s without rules. The results, with the machine and the exact command, go to docs/benchmarks.md
(the section between the bench/track.py markers is replaced; the rest of the file is kept).

Each run also records the CPU used by the server, wrk, PostgreSQL and everything else (the machine
may be shared: runs disturbed by other load are marked "noisy", `--repeat N` keeps the best of N),
PostgreSQL's commits (the ingestor's group commits) and the server's RSS. The PostgreSQL database
`kohtaamo_bench` is dropped at the end unless `--keep-db`.

`--profile DIR` also samples the server with py-spy (installed into the venv if missing) during
each measured run and prints where the time goes: a breakdown by layer and the top functions, in
% of one core. Profiled numbers are disturbed, so such a run leaves the doc alone.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "track.lua"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench/track.py: begin (generated, do not edit by hand) -->"
END = "<!-- bench/track.py: end -->"
PG_HOST, PG_USER, PG_DB = "127.0.0.1", "postgres", "kohtaamo_bench"
TARGET_RATIO = 0.50
TARGET_EVENTS = 20_000
TARGET_RULES = 0.80  # single-event req/s with the workspace's rules vs without
SCENARIOS = ("bare", "single", "rules", "batch")
PROFILE_RATE = 250  # py-spy samples a second
NOISY = 20.0  # % of a core used by other processes during a run that marks it as disturbed
rows_version: dict[str, str] = {}  # database name -> its version, filled in by the runs


# --------------------------------------------------------------------------- small helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def kohtaamo_cli() -> str:
    """The project's CLI next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / "kohtaamo"
    if here.exists():
        return str(here)
    found = shutil.which("kohtaamo")
    if not found:
        sys.exit("kohtaamo CLI not found: run with the project's venv (.venv/bin/python)")
    return found


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed; install it (apt-get install wrk) or run as root")
    log("installing wrk with apt-get")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get installed wrk but it is not on PATH")
    return found


def ensure_py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    if here.exists():
        return str(here)
    if shutil.which("py-spy"):
        return str(shutil.which("py-spy"))
    log("installing py-spy into the venv")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(here)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def psql(sql: str, db: str = "postgres") -> str:
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-U", PG_USER, "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def rss_kib(pid: int) -> int | None:
    """VmRSS of the process and its children (uvicorn runs one worker in-process)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            if p == pid:
                return None
    return total


HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int, with_children: bool = True) -> int:
    """utime + stime of a process (all its threads), plus its live children's if asked."""
    total = 0
    pids = [pid]
    if with_children:
        with contextlib.suppress(OSError):
            pids += [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


def postgres_ticks() -> int:
    """CPU ticks of every process named postgres (the backends serving the bench included)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if (entry / "comm").read_text().strip() == "postgres":
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
    return total


def machine_ticks() -> tuple[int, int]:
    """(all, busy) jiffies summed over CPUs, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v), sum(v) - idle


@dataclass
class CpuUse:
    """CPU use during a run, in % of one core (the machine has os.cpu_count() x 100 %)."""

    server: float
    client: float
    postgres: float
    other: float  # everything else on the machine: noisy neighbours show up here


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class CpuMeter:
    """Measures one wrk run. The client is wrk, a child that has ended by the time stop() runs,
    so its CPU comes from getrusage(RUSAGE_CHILDREN); the server, still running, from /proc."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.s0 = cpu_ticks(self.server_pid)
        self.c0 = _children_cpu()
        self.p0 = postgres_ticks()
        self.m0 = machine_ticks()

    def stop(self) -> CpuUse:
        el = time.monotonic() - self.t0
        s = (cpu_ticks(self.server_pid) - self.s0) / HZ / el * 100
        c = (_children_cpu() - self.c0) / el * 100
        p = (postgres_ticks() - self.p0) / HZ / el * 100
        m1 = machine_ticks()
        busy = (m1[1] - self.m0[1]) / HZ / el * 100
        return CpuUse(s, c, p, max(0.0, busy - s - c - p))


def machine_busy(seconds: float = 1.0) -> float:
    """% of one core in use on the whole machine over `seconds`."""
    a = machine_ticks()
    time.sleep(seconds)
    b = machine_ticks()
    return (b[1] - a[1]) / HZ / seconds * 100


def wait_quiet(limit: float, threshold: float = 25.0) -> float:
    """Wait (up to `limit` s) until the machine is nearly idle; returns the last busy reading."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    warned = False
    while busy > threshold and time.monotonic() < deadline:
        if not warned:
            log(
                f"machine is busy ({busy:.0f}% of a core in use by others); waiting up to {limit:g} s"
            )
            warned = True
        busy = machine_busy(2.0)
    return busy


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback only)
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    name: str  # "sqlite" | "postgres"
    url: str
    workdir: Path
    sqlite_path: Path | None = None

    def count_events(self, table: str = "events") -> int:
        if self.sqlite_path is not None:
            conn = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                sql = f"select count(*) from {table}"  # noqa: S608 - table names from this file
                return int(conn.execute(sql).fetchone()[0])
            finally:
                conn.close()
        return int(psql(f"select count(*) from {table}", db=PG_DB))  # noqa: S608 - as above

    def commits(self) -> int | None:
        """Transactions committed in the bench database so far (PostgreSQL's statistics)."""
        if self.sqlite_path is not None:
            return None
        # Backends flush their statistics about once a second when idle: give them time.
        time.sleep(1.5)
        sql = "select xact_commit from pg_stat_database where datname = current_database()"
        return int(psql(sql, db=PG_DB))

    def version(self) -> str:
        if self.sqlite_path is not None:
            return f"SQLite {sqlite3.sqlite_version}"
        return "PostgreSQL " + psql("show server_version").split()[0]

    @classmethod
    def fresh(cls, name: str, workdir: Path) -> Database:
        if name == "sqlite":
            path = workdir / "bench.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return cls(name, f"sqlite+aiosqlite:///{path}", workdir, sqlite_path=path)
        if name == "postgres":
            psql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            psql(f"CREATE DATABASE {PG_DB}")
            return cls(name, f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:5432/{PG_DB}", workdir)
        raise SystemExit(f"unknown database {name!r}: use sqlite and/or postgres")


# --------------------------------------------------------------------------- server


class Server:
    def __init__(self, db: Database, env: dict[str, str], cli: str) -> None:
        self.db = db
        self.env = env
        self.cli = cli
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = db.workdir / f"server-{db.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def run_cli(self, *args: str) -> str:
        out = subprocess.run(
            [self.cli, *args], env=self.env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            sys.exit(f"kohtaamo {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def prepare(self, name: str = "Bench") -> tuple[int, str]:
        """Migrate and create a workspace; returns its id and site key."""
        self.run_cli("migrate")
        out = self.run_cli("create-workspace", "--name", name)
        m = re.search(r"site key:\s*(ks_\S+)", out)
        n = re.search(r"workspace id:\s*(\d+)", out)
        if not m or not n:
            sys.exit(f"no workspace id or site key in create-workspace output:\n{out}")
        return int(n.group(1)), m.group(1)

    def start(self) -> None:
        logf = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [self.cli, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=self.env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"server exited with {self.proc.returncode} before it was ready")
            with contextlib.suppress(OSError):
                status, _ = get(self.base + "/readyz")
                if status == 200:
                    return
            time.sleep(0.2)
        self.fail("server not ready after 60 s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        sys.exit(f"{why}\n--- server log ({self.log_path}) ---\n{tail}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log("server did not stop on SIGTERM in 20 s; killing it")
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- wrk

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"cannot read a wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: dict[str, int]
    lua: dict[str, int] = field(default_factory=dict)
    raw: str = ""
    cpu: CpuUse | None = None

    @property
    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())


def parse_wrk(out: str) -> WrkResult:
    def num(pattern: str, cast: Any = float, default: Any = None) -> Any:
        m = re.search(pattern, out, re.MULTILINE)
        if not m:
            if default is not None:
                return default
            raise ValueError(f"wrk output has no match for {pattern!r}:\n{out}")
        return cast(m.group(1))

    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.MULTILINE)}
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.MULTILINE)
    if not m:
        raise ValueError(f"wrk output has no request count:\n{out}")
    sock = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    s = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out, re.MULTILINE
    )
    if s:
        sock = dict(zip(sock, map(int, s.groups()), strict=True))
    lua: dict[str, int] = {}
    b = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
    if b:
        lua = {k: int(v) for k, v in (kv.split("=") for kv in b.group(1).split())}
    max_ms = _ms(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return WrkResult(
        requests=int(m.group(1)),
        seconds=_ms(m.group(2) + m.group(3)) / 1000,
        rps=num(r"^Requests/sec:\s+([\d.]+)"),
        p50_ms=pct.get("50", float("nan")),
        p90_ms=pct.get("90", float("nan")),
        p99_ms=pct.get("99", float("nan")),
        max_ms=max_ms,
        non2xx=num(r"Non-2xx or 3xx responses:\s+(\d+)", int, 0),
        socket_errors=sock,
        lua=lua,
        raw=out,
    )


def run_wrk(
    wrk: str,
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
    lua_args: list[str],
    meter: CpuMeter | None = None,
) -> WrkResult:
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    if lua_args:
        cmd += ["-s", str(LUA)]
    cmd.append(url)
    if lua_args:
        cmd += ["--", *lua_args]
    if meter is not None:
        meter.start()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=seconds + 60)
    # wrk prints its report after the run: the meter's window is the run (plus a few ms).
    cpu = meter.stop() if meter is not None else None
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{stdout}\n{stderr}")
    res = parse_wrk(stdout)
    res.cpu = cpu
    if stderr.strip():
        log("wrk stderr: " + stderr.strip()[:600])
    return res


# --------------------------------------------------------------------------- profiling


_ROOT_FRAMES = re.compile(
    r"^(<module>|Command\.|Group\.|Context\.|serve \(kohtaamo/cli|run \(uvicorn/main|"
    r"Server\.run|asyncio_run|Thread\.(run|_bootstrap))"
)


# Where a sample's time goes. First the specific buckets, in this order, each taking a sample if
# any frame of its stack matches (so SQLAlchemy work the ingestor started counts as SQLAlchemy);
# what is left goes by its leaf-most frame to the general buckets (the HTTP stack, the loop).
_SPECIFIC = [
    (
        "SQLAlchemy: compiling SQL (statement cache misses)",
        r"_compile_w_cache|SQLCompiler\.__init__",
    ),
    ("SQLAlchemy: insertmanyvalues (multi-row VALUES)", r"_deliver_insertmanyvalues_batches"),
    ("SQLite engine + aiosqlite thread hops", r"aiosqlite/|sqlite3"),
    ("stdlib json (SQLAlchemy JSON column binds)", r"json/encoder\.py|json/__init__\.py"),
    ("asyncpg driver", r"asyncpg/"),
    ("SQLAlchemy: executing (binds, results, pool)", r"sqlalchemy/"),
    ("kohtaamo ingestor (row building, group commit)", r"kohtaamo/tracking/ingest\.py"),
    ("validation (pydantic, intake checks)", r"pydantic|kohtaamo/tracking/(intake|schemas)\.py"),
    ("live state", r"kohtaamo/tracking/live\.py"),
    ("rate limiter", r"kohtaamo/kit/ratelimit\.py"),
    ("orjson (request bodies, answers)", r"kohtaamo/kit/jsonx\.py|orjson"),
    ("metrics (prometheus_client)", r"prometheus_client"),
]
_GENERAL = [
    ("kohtaamo /track endpoint (rest)", r"kohtaamo/tracking/|kohtaamo/kit/|kohtaamo/shops/"),
    ("metrics middleware", r"kohtaamo/ops\.py"),
    ("FastAPI / Starlette (routing, middleware, coroutine chain)", r"fastapi/|starlette/"),
    ("uvicorn HTTP protocol (httptools)", r"uvicorn/|httptools"),
    ("event loop (uvloop C: sockets, wake-ups, GIL waits)", r"^Runner\.run "),
]
_SPECIFIC_RES = [(label, re.compile(rx)) for label, rx in _SPECIFIC]
_GENERAL_RES = [(label, re.compile(rx)) for label, rx in _GENERAL]


def _bucket(frames: list[str]) -> str:
    for label, rx in _SPECIFIC_RES:
        if any(rx.search(f) for f in frames):
            return label
    for frame in reversed(frames):
        for label, rx in _GENERAL_RES:
            if rx.search(frame):
                return label
    return "other"


def _short(frame: str) -> str:
    return re.sub(r"\((?:.*?site-packages/|.*?/src/)", "(", frame)


def profile_summary(raw_path: Path, *, rate: int, seconds: float, top: int = 25) -> str:
    """Where the server's time went, from py-spy's collapsed stacks, in % of one core.

    "self" is time with the function at the top of the stack (native code it calls included);
    "inclusive" is time with the function anywhere on the stack. Frames every stack shares
    (click, uvicorn's start-up, threading) are left out of the inclusive list."""
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not stack or not n_text.isdigit():
            continue
        n = int(n_text)
        # Frames look like "func (path/file.py:line)": drop the line so a function counts once.
        names = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if f]
        if not names:
            continue
        total += n
        buckets[_bucket(names)] += n
        self_n[names[-1]] += n
        for name in set(names):
            incl_n[name] += n
    if not total:
        return "(no samples)"
    per_core = rate * seconds / 100  # samples that make 1 % of one core
    lines = [f"{total} samples = {total / per_core:.0f} % of one core busy in Python threads", ""]
    lines += ["breakdown %core"]
    lines += [f"{n / per_core:10.1f}  {label}" for label, n in buckets.most_common()]
    lines += ["", "self %core  function"]
    lines += [f"{n / per_core:10.1f}  {_short(f)}" for f, n in self_n.most_common(top)]
    lines += ["", "incl %core  function"]
    inclusive = [(f, n) for f, n in incl_n.most_common() if not _ROOT_FRAMES.match(f)]
    lines += [f"{n / per_core:10.1f}  {_short(f)}" for f, n in inclusive[: top * 2]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the run


@dataclass
class Row:
    database: str
    scenario: str
    batch: int
    wrk: WrkResult
    rows_added: int | None = None
    in_flight_extra: int | None = None  # rows committed beyond the answers wrk counted
    rss_kib: int | None = None
    commits: int | None = None  # PostgreSQL transactions during the run (group commits)
    exposures: int = 0  # rule decisions stored during the run (the rules scenario)
    all_rps: list[float] = field(default_factory=list)  # every repeat's req/s, best reported
    problems: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.wrk.rps * self.batch if self.scenario != "bare" else 0.0


def settle_count(db: Database, quiet: float = 0.5, limit: float = 15.0) -> int:
    """The events count once it stops moving (requests in flight when wrk stopped finish)."""
    deadline = time.monotonic() + limit
    last = db.count_events()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = db.count_events()
        if now == last:
            return now
        last = now
    return last


def bench_database(name: str, args: argparse.Namespace, wrk: str, workdir: Path) -> list[Row]:
    db = Database.fresh(name, workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOHTAAMO_")}
    env |= {
        "KOHTAAMO_DATABASE_URL": db.url,
        "KOHTAAMO_ENVIRONMENT": "development",
        "KOHTAAMO_TRACK_RATE_PER_SITE": "1000000",
        "KOHTAAMO_TRACK_BURST_PER_SITE": "1000000",
        "KOHTAAMO_LOG_LEVEL": "WARNING",
    }
    if args.redis:
        env["KOHTAAMO_REDIS_URL"] = args.redis
    server = Server(db, env, kohtaamo_cli())
    log(f"{name}: fresh database {db.url}")
    _, site_key = server.prepare()
    rules_ws, rules_site_key = server.prepare("Bench with rules")
    seed_rules(db.url, rules_ws, args.rules)
    RULES_SEEDED[name] = args.rules
    log(f"{name}: workspace {rules_ws} has {args.rules} enabled rules")
    server.start()
    log(f"{name}: server pid {server.pid} ready on {server.base}")
    rows: list[Row] = []
    try:
        threads = max(1, min(args.threads, args.connections))
        urls = {"bare": server.base + "/healthz", "track": server.base + "/api/v1/track"}
        batches = {"bare": 0, "single": 1, "rules": 1, "batch": args.batch}

        def lua_args(scenario: str) -> list[str]:
            if scenario == "bare":
                return []
            run_id = secrets.token_hex(4)
            key = rules_site_key if scenario == "rules" else site_key
            # Single events (with and without rules) come in visits of ~20 events, staggered,
            # so rules meet visits at every stage, not all 1,000 at once at the same second.
            visit_len = args.visit_len if scenario in ("single", "rules") else 0
            return [run_id, key, str(batches[scenario]), str(args.visitors), str(visit_len)]

        def url(scenario: str) -> str:
            return urls["bare"] if scenario == "bare" else urls["track"]

        if args.warmup > 0:
            for sc in SCENARIOS:
                log(f"{name}: warm-up {sc} for {args.warmup:g} s")
                w = run_wrk(
                    wrk,
                    url(sc),
                    seconds=args.warmup,
                    connections=args.connections,
                    threads=threads,
                    lua_args=lua_args(sc),
                )
                if w.errors:
                    server.fail(f"warm-up {sc}: {w.non2xx} non-2xx, sockets {w.socket_errors}")

        def measure(sc: str, attempt: int) -> Row:
            if args.quiet_wait > 0:
                wait_quiet(args.quiet_wait)
            before = settle_count(db) if sc != "bare" else None
            exposures_before = db.count_events("exposures") if sc == "rules" else 0
            commits_before = db.commits() if sc != "bare" else None
            prof: subprocess.Popen[bytes] | None = None
            profile_seconds = max(1, round(args.duration) - 1)
            raw_path = Path(args.profile) / f"{name}-{sc}.txt" if args.profile else None
            if raw_path is not None and attempt == 0:
                prof = subprocess.Popen(
                    [
                        ensure_py_spy(),
                        "record",
                        "--pid",
                        str(server.pid),
                        "--duration",
                        str(profile_seconds),
                        "--rate",
                        str(PROFILE_RATE),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(raw_path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            log(f"{name}: measuring {sc} for {args.duration:g} s")
            w = run_wrk(
                wrk,
                url(sc),
                seconds=args.duration,
                connections=args.connections,
                threads=threads,
                lua_args=lua_args(sc),
                meter=CpuMeter(server.pid),
            )
            row = Row(name, sc, batches[sc], w)
            if w.non2xx:
                row.problems.append(f"{w.non2xx} non-2xx answers")
            if sum(w.socket_errors.values()):
                row.problems.append(f"socket errors {w.socket_errors}")
            if sc != "bare":
                after = settle_count(db)
                assert before is not None
                row.rows_added = after - before
                commits_after = db.commits()
                if commits_after is not None and commits_before is not None:
                    # psql's own count(*) and statistics reads are transactions too: ~2 a read.
                    row.commits = max(0, commits_after - commits_before - 4)
                sent_ok = w.lua.get("ok", w.requests)
                accepted = w.lua.get("accepted", sent_ok * row.batch)
                if w.lua.get("duplicates", 0):
                    row.problems.append(f"{w.lua['duplicates']} duplicates (ids not unique?)")
                if accepted != sent_ok * row.batch:
                    row.problems.append(
                        f"answers accepted {accepted} events, expected {sent_ok * row.batch}"
                    )
                row.in_flight_extra = row.rows_added - accepted
                slack = args.connections * row.batch
                if not 0 <= row.in_flight_extra <= slack:
                    row.problems.append(
                        f"events table grew by {row.rows_added}, answers accepted {accepted}: "
                        f"difference {row.in_flight_extra} outside 0..{slack}"
                    )
            if sc == "rules":
                row.exposures = db.count_events("exposures") - exposures_before
            row.rss_kib = rss_kib(server.pid)
            if prof is not None and raw_path is not None:
                prof.wait(timeout=60)
                if raw_path.exists():
                    print(f"\n### py-spy profile: {name} {sc} ({raw_path})\n")
                    print(profile_summary(raw_path, rate=PROFILE_RATE, seconds=profile_seconds))
            log(
                f"{name} {sc}: {w.rps:,.0f} req/s, p50 {w.p50_ms:.2f} ms, p99 {w.p99_ms:.2f} ms"
                + (f", {row.events_per_s:,.0f} events/s" if sc != "bare" else "")
                + (f", {row.exposures:,} exposures stored" if sc == "rules" else "")
                + (f"; CPU % {cpu_text(w.cpu)}" if w.cpu else "")
                + (f"; PROBLEMS: {'; '.join(row.problems)}" if row.problems else "")
            )
            if not server.alive():
                server.fail(f"server died during {sc}")
            return row

        # Repeats go round the scenarios (bare, single, rules, batch, bare, ...), so a slow spell
        # of this shared machine lands on every scenario alike instead of on one of them.
        runs: dict[str, list[Row]] = {sc: [] for sc in SCENARIOS}
        for i in range(args.repeat):
            for sc in SCENARIOS:
                runs[sc].append(measure(sc, i))
        for sc in SCENARIOS:
            # A run with problems is the one reported: a failure must not hide behind a retry.
            bad = [r for r in runs[sc] if r.problems]
            best = bad[0] if bad else max(runs[sc], key=lambda r: r.wrk.rps)
            best.all_rps = [r.wrk.rps for r in runs[sc]]
            rows.append(best)
        rows_version[name] = db.version()
    finally:
        server.stop()
        if name == "postgres" and not args.keep_db:
            psql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    return rows


# --------------------------------------------------------------------------- rules

RULES_SEEDED: dict[str, int] = {}


def seed_rules(url: str, workspace_id: int, n: int) -> None:
    sys.path.insert(0, str(BENCH))
    from decide import seed_rules as seed  # the same 50 rules bench/decide.py times

    seed(url, workspace_id, n)


# --------------------------------------------------------------------------- reporting


def _fmt_ms(v: float) -> str:
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def verdicts(rows: list[Row]) -> list[tuple[str, str, str, bool]]:
    """(database, target, measured, passed) for each database and target."""
    out = []
    by_db: dict[str, dict[str, Row]] = collections.defaultdict(dict)
    for r in rows:
        by_db[r.database][r.scenario] = r
    for db, sc in by_db.items():
        bare, single, batch = sc.get("bare"), sc.get("single"), sc.get("batch")
        ruled = sc.get("rules")
        if single and ruled:
            ratio = ruled.wrk.rps / single.wrk.rps if single.wrk.rps else 0.0
            out.append(
                (
                    db,
                    f"single-event req/s with {RULES_SEEDED.get(db, '?')} rules >= "
                    f"{TARGET_RULES:.0%} of without",
                    f"{ratio:.1%} ({ruled.wrk.rps:,.0f} / {single.wrk.rps:,.0f})",
                    ratio >= TARGET_RULES and not ruled.problems and not single.problems,
                )
            )
        if bare and single:
            ratio = single.wrk.rps / bare.wrk.rps if bare.wrk.rps else 0.0
            out.append(
                (
                    db,
                    f"single-event req/s >= {TARGET_RATIO:.0%} of bare",
                    f"{ratio:.1%} ({single.wrk.rps:,.0f} / {bare.wrk.rps:,.0f})",
                    ratio >= TARGET_RATIO and not single.problems and not bare.problems,
                )
            )
        if batch:
            out.append(
                (
                    db,
                    f">= {TARGET_EVENTS:,} events/s in batches of {batch.batch}",
                    f"{batch.events_per_s:,.0f} events/s",
                    batch.events_per_s >= TARGET_EVENTS and not batch.problems,
                )
            )
    return out


def commits_text(r: Row) -> str:
    if not r.commits:
        return ""
    per_s = r.commits / r.wrk.seconds
    return f"{per_s:,.0f} ({r.wrk.requests / r.commits:.1f})"


def cpu_text(c: CpuUse | None) -> str:
    if c is None:
        return ""
    noisy = " (noisy)" if c.other > NOISY else ""
    return f"{c.server:.0f} / {c.client:.0f} / {c.postgres:.0f} / {c.other:.0f}{noisy}"


def results_table(rows: list[Row]) -> str:
    bare_rps = {r.database: r.wrk.rps for r in rows if r.scenario == "bare"}
    lines = [
        "| database | scenario | req/s | events/s | p50 ms | p99 ms | max ms "
        "| vs bare | rows check | commits/s (req/commit) | server RSS MiB "
        "| CPU % server / wrk / pg / other |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        name = {
            "bare": "bare `GET /healthz`",
            "single": "`POST /track`, 1 event",
            "rules": f"`POST /track`, 1 event, {RULES_SEEDED.get(r.database, '?')} rules",
            "batch": f"`POST /track`, {r.batch} events",
        }[r.scenario]
        ratio = "" if r.scenario == "bare" else f"{r.wrk.rps / bare_rps[r.database]:.1%}"
        if r.scenario == "bare":
            check = "n/a"
        elif r.problems:
            check = "FAIL: " + "; ".join(r.problems)
        else:
            check = f"ok: +{r.rows_added:,} rows (+{r.in_flight_extra} in flight)"
        lines.append(
            f"| {r.database} | {name} | {r.wrk.rps:,.0f} | "
            f"{'' if r.scenario == 'bare' else f'{r.events_per_s:,.0f}'} | "
            f"{_fmt_ms(r.wrk.p50_ms)} | {_fmt_ms(r.wrk.p99_ms)} | {_fmt_ms(r.wrk.max_ms)} | "
            f"{ratio} | {check} | {commits_text(r)} | "
            f"{'' if r.rss_kib is None else f'{r.rss_kib / 1024:.0f}'} | "
            f"{cpu_text(r.wrk.cpu)} |"
        )
    return "\n".join(lines)


def verdict_table(rows: list[Row]) -> str:
    lines = ["| database | target | measured | result |", "|---|---|---|---|"]
    for db, target, measured, ok in verdicts(rows):
        lines.append(f"| {db} | {target} | {measured} | {'PASS' if ok else 'FAIL'} |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    wrk_v = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    src = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "wrk": (wrk_v.split("[")[0].strip() or "wrk"),
        "source": src or "unknown",
    }


def report(rows: list[Row], args: argparse.Namespace, command: str) -> str:
    m = machine()
    passed = all(ok for *_, ok in verdicts(rows)) and not any(r.problems for r in rows)
    dbs = ", ".join(rows_version.get(d, d) for d in dict.fromkeys(r.database for r in rows))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    redis = (
        f"Redis at `{args.redis}` for the rate limiter and live state."
        if args.redis
        else "No Redis: in-memory rate limiter and live state."
    )
    repeats = ""
    best_of = (
        f", best of {args.repeat} runs taken in turns with the other scenarios"
        if args.repeat > 1
        else ""
    )
    if args.repeat > 1:
        runs = "; ".join(
            f"{r.database} {r.scenario}: " + " / ".join(f"{x:,.0f}" for x in r.all_rps)
            for r in rows
        )
        repeats = f"\nEvery repeat's req/s (the best is in the table): {runs}.\n"
    return f"""{BEGIN}
## Tracking ingest: `bench/track.py`

Generated by the command below on {when}; re-run it to refresh this section.

```
{command}
```

- Machine: {m["cpus"]} CPUs ({m["cpu"]}), {m["memory"]} RAM, {m["os"]}; {m["python"]};
  {m["wrk"]}; {dbs}; source `{m["source"]}`.
- Server: one worker (`kohtaamo serve --workers 1`: uvicorn with uvloop and httptools). {redis}
  Per-site rate limit raised to 1,000,000/s so it does not interfere.
- Client: wrk, {min(args.threads, args.connections)} threads, {args.connections} connections,
  {args.duration:g} s per scenario after a {args.warmup:g} s warm-up of each{best_of}.
  **wrk, the server and PostgreSQL share the same {m["cpus"]} cores**, so every number is lower
  than the server would reach with the client elsewhere: compare rows with each other, not with
  other machines.
- Scenarios: *bare* is `GET /healthz` (answers `{{"status":"ok"}}`, touches nothing), the ceiling
  for this server and client; *1 event* and *{args.batch} events* are `POST /api/v1/track`
  (mixed page_view, cart_add and form_error events, fresh event ids, {args.visitors:,} visitors).
  Each answer comes only after its events are committed.
- Rows check: after each track run the rows added to `events` must equal the events the 2xx
  answers accepted, plus at most connections x batch size for requests still in flight when wrk
  stopped ("in flight"). Non-2xx answers, socket errors and duplicates fail the run.
- Commits/s: PostgreSQL transactions during the run (`pg_stat_database.xact_commit`), i.e. the
  ingestor's group commits; "req/commit" is how many requests one commit served.
- CPU %: of one core (the machine has {m["cpus"]} x 100 %), during the run, for the server process,
  wrk, all PostgreSQL processes, and everything else on the machine. "(noisy)" marks a run during
  which other processes used more than {NOISY:.0f} % of a core: its numbers are disturbed.

{results_table(rows)}
{repeats}
Targets (from the issue), per database:

{verdict_table(rows)}

Overall: **{"PASS" if passed else "FAIL"}**.
{END}
"""


def write_doc(section: str) -> None:
    if DOC.exists():
        text = DOC.read_text()
        if BEGIN in text and END in text:
            head, _, rest = text.partition(BEGIN)
            _, _, tail = rest.partition(END)
            text = head + section.strip() + tail
        else:
            text = text.rstrip() + "\n\n" + section
    else:
        text = (
            "# Benchmarks\n\n"
            "Numbers from the scripts in `bench/`. Each section is written by its script and says\n"
            "how it was run; re-run the command to refresh it.\n\n" + section
        )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=10, help="seconds per measured scenario")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per scenario")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each scenario this many times and report the best (noisy machines)",
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads (the machine has 2 cores)")
    p.add_argument("--databases", default="sqlite,postgres")
    p.add_argument("--batch", type=int, default=50, help="events per request in the batch run")
    p.add_argument("--visitors", type=int, default=1000, help="distinct visitor ids")
    p.add_argument("--rules", type=int, default=50, help="enabled rules in the 'rules' workspace")
    p.add_argument(
        "--visit-len", type=int, default=20, help="events per visit in the single-event runs"
    )
    p.add_argument("--redis", default=None, help="KOHTAAMO_REDIS_URL for the server (default none)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="before each measured run, wait up to this many seconds for other load to end",
    )
    p.add_argument(
        "--profile", default=None, metavar="DIR", help="py-spy each measured run into DIR"
    )
    p.add_argument(
        "--keep-db", action="store_true", help=f"keep the PostgreSQL database {PG_DB} afterwards"
    )
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.relative_to(ROOT)}")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = p.parse_args()

    command = " ".join([".venv/bin/python", "bench/track.py", *sys.argv[1:]])
    wrk = ensure_wrk()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        ensure_py_spy()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kohtaamo-bench-") as tmp:
        for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
            rows += bench_database(name, args, wrk, Path(tmp))

    print()
    print(results_table(rows))
    print()
    print(verdict_table(rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "database": r.database,
                        "scenario": r.scenario,
                        "batch": r.batch,
                        "requests": r.wrk.requests,
                        "rps": r.wrk.rps,
                        "events_per_s": r.events_per_s,
                        "p50_ms": r.wrk.p50_ms,
                        "p90_ms": r.wrk.p90_ms,
                        "p99_ms": r.wrk.p99_ms,
                        "max_ms": r.wrk.max_ms,
                        "rows_added": r.rows_added,
                        "in_flight_extra": r.in_flight_extra,
                        "rss_kib": r.rss_kib,
                        "problems": r.problems,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
    if args.profile:
        print(f"\nprofiled run: {DOC.relative_to(ROOT)} left alone (py-spy disturbs the numbers)")
    elif not args.no_doc:
        write_doc(report(rows, args, command))
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    ok = all(passed for *_, passed in verdicts(rows)) and not any(r.problems for r in rows)
    print(f"\nOverall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

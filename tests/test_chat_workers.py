"""Live chat across real `kohtaamo serve` processes: a visitor on one worker, an agent on another,
both through Redis on one database; and workers killed (SIGKILL) and restarted mid-conversation.

Nothing is mocked: real processes, real Redis, real websockets. Data is seeded through the
product's services (as tests/test_browser_staff.py does); the agent's cookie comes from the
HTML login form, exactly as a browser gets it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from kohtaamo.auth import service as auth
from kohtaamo.auth.models import Role
from kohtaamo.db.engine import make_engine, make_sessionmaker, transaction
from kohtaamo.shops import service as shops
from kohtaamo.shops.schemas import WorkspaceCreate
from tests import chatkit as ck
from tests import factory as f
from tests import services
from tests.browser import free_port

WAIT = 20.0  # seconds for any frame that crosses processes or Redis
START = 60.0  # seconds for a server process to answer /readyz
PASSWORD = "salasana-0123456789"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def redis_url() -> str:
    services.require_redis()
    client = Redis.from_url(services.REDIS_URL)
    await client.flushdb()  # no presence or limits left over from another test
    await client.aclose()
    return services.REDIS_URL


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "kohtaamo.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


# --- real server processes --------------------------------------------------------------------


class Worker:
    """One `kohtaamo serve` process that can be SIGKILLed and started again on the same port."""

    def __init__(self, name: str, database_url: str, redis_url: str | None, logs: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.log = logs / f"worker-{name}.log"
        env = {k: v for k, v in os.environ.items() if k != "KOHTAAMO_REDIS_URL"}
        env.update(
            KOHTAAMO_DATABASE_URL=database_url,
            KOHTAAMO_PUBLIC_BASE_URL=self.base,
            KOHTAAMO_SECRET_KEY="worker-test-secret-key-0123456789abcdef",
        )
        if redis_url:
            env["KOHTAAMO_REDIS_URL"] = redis_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        exe = shutil.which("kohtaamo", path=str(Path(sys.executable).parent)) or "kohtaamo"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts} ===\n".encode())
            out.flush()
            # The log goes to a file: an unread pipe fills up and blocks the server.
            return subprocess.Popen(
                [exe, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = proc = self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START
        async with httpx.AsyncClient(base_url=self.base, timeout=2) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                if proc.poll() is not None or loop.time() > deadline:
                    raise RuntimeError(f"worker {self.name} did not start:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when a machine dies."""
        assert self.proc is not None, "never started"
        assert self.proc.poll() is None, "not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self, chars: int = 5000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


@asynccontextmanager
async def running(
    database_url: str, redis_url: str | None, logs: Path, n: int
) -> AsyncIterator[list[Worker]]:
    workers = [Worker("AB"[i], database_url, redis_url, logs) for i in range(n)]
    try:
        for w in workers:
            await w.start()
        yield workers
    except BaseException:
        for w in workers:
            sys.stderr.write(f"--- worker {w.name} log ---\n{w.tail()}\n")
        raise
    finally:
        for w in workers:
            w.stop()


class Sockets:
    """Every socket a test opens, closed at the end whatever happens."""

    def __init__(self) -> None:
        self.open: list[ck.Socket] = []

    def add(self, sock: ck.Socket) -> ck.Socket:
        self.open.append(sock)
        return sock

    async def close(self) -> None:
        for sock in self.open:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.close(), 5)


@asynccontextmanager
async def sockets() -> AsyncIterator[Sockets]:
    bag = Sockets()
    try:
        yield bag
    finally:
        await bag.close()


# --- data and logins --------------------------------------------------------------------------


@dataclass
class Team:
    workspace_id: int
    site_key: str
    user_id: int
    email: str
    name: str

    @property
    def shop(self) -> f.Shop:
        owner = f.Staff(self.user_id, self.email, "")
        return f.Shop(self.workspace_id, self.site_key, "", owner)


async def seed(database_url: str) -> Team:
    """A workspace whose owner is its one agent."""
    engine = make_engine(database_url, pool_size=1)
    email = f"agentti-{uuid.uuid4().hex[:8]}@kauppa.fi"
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            user = await auth.create_user(s, email=email, name="Aino Agentti", password=PASSWORD)
            ws = await shops.create_workspace(
                s, data=WorkspaceCreate(name="Kauppa", allowed_origins=[f.ORIGIN]), owner=None
            )
            await auth.add_member(s, workspace_id=ws.id, user=user, role=Role.owner)
            return Team(ws.id, ws.site_key, user.id, email, user.name)
    finally:
        await engine.dispose()


async def login(worker: Worker, email: str) -> str:
    """The staff session cookie, from the HTML login form as a browser gets it."""
    async with httpx.AsyncClient(base_url=worker.base, timeout=10) as client:
        r = await client.get("/login")
        assert r.status_code == 200, r.text
        found = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        assert found, "the login form has no csrf_token field"
        r = await client.post(
            "/login",
            data={
                "email": email,
                "password": PASSWORD,
                "csrf_token": found.group(1),
                "next": "/workspaces",
            },
        )
        assert r.status_code == 303, r.text
        token = r.cookies.get("kohtaamo_session")
        assert token, r.headers
        return token


async def bearer(worker: Worker, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=worker.base, timeout=10) as client:
        r = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def agents_online(worker: Worker, team: Team) -> int:
    async with httpx.AsyncClient(base_url=worker.base, timeout=10) as client:
        r = await client.get("/api/v1/widget/config", params={"site_key": team.site_key})
        assert r.status_code == 200, r.text
        online: int = r.json()["agents_online"]
        return online


async def eventually_online(worker: Worker, team: Team, want: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while (got := await agents_online(worker, team)) != want:
        assert loop.time() < deadline, f"worker {worker.name}: agents_online {got}, not {want}"
        await asyncio.sleep(0.1)


async def stored(worker: Worker, team: Team, conversation_id: int) -> list[dict[str, Any]]:
    headers = await bearer(worker, team.email)
    async with httpx.AsyncClient(base_url=worker.base, timeout=10) as client:
        r = await client.get(
            f"/api/v1/workspaces/{team.workspace_id}/conversations/{conversation_id}/messages",
            headers=headers,
        )
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()
        return rows


def messages(sock: ck.Socket) -> list[dict[str, Any]]:
    return [x for x in sock.seen if x.get("type") == "message"]


async def connected_agent(bag: Sockets, worker: Worker, token: str, team: Team) -> ck.Socket:
    # The Origin must be this worker's own public URL (KOHTAAMO_PUBLIC_BASE_URL).
    agent = bag.add(await ck.agent(worker.host, token, origin=worker.base))
    ready = await agent.expect("ready", WAIT)
    assert ready["workspaces"] == [team.workspace_id]
    assert ready["user_id"] == team.user_id
    return agent


async def dropped(sock: ck.Socket) -> None:
    """Wait until the server end of the socket is gone."""
    await asyncio.wait_for(sock.conn.wait_closed(), WAIT)


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_visitor_on_one_worker_and_agent_on_another_talk_through_redis(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    team = await seed(database_url)
    async with running(database_url, redis_url, tmp_path, 2) as (a, b), sockets() as bag:
        token = await login(b, team.email)
        assert await agents_online(a, team) == 0

        agent = await connected_agent(bag, b, token, team)
        # The console is on B; A reads the shared presence.
        await eventually_online(a, team, 1)
        assert await agents_online(b, team) == 1

        vid = ck.new_visitor()
        visitor = bag.add(await ck.visitor(a.host, team.shop, vid))
        hello = await visitor.expect("ready", WAIT)
        assert hello["conversation"] is None
        assert hello["agents_online"] == 1

        ack = await visitor.say("Hei, onko tätä kokoa 42?")
        cid = ack["conversation_id"]
        assert ack["seq"] == 1
        got = await agent.expect("message", WAIT, conversation_id=cid, seq=ack["seq"])
        assert got["author"] == "visitor"
        assert got["body"] == "Hei, onko tätä kokoa 42?"
        assert got["workspace_id"] == team.workspace_id
        notice = await agent.expect("notice", WAIT, conversation_id=cid)
        assert notice["user_id"] == team.user_id  # routed (on A) to the agent online on B

        # Typing, both ways across the workers.
        await visitor.send({"type": "typing", "on": True})
        typing = await agent.expect("typing", WAIT, conversation_id=cid, author="visitor")
        assert typing["on"] is True
        await agent.send({"type": "typing", "conversation_id": cid, "on": True})
        typing = await visitor.expect("typing", WAIT, conversation_id=cid)
        assert typing["on"] is True
        assert typing["name"] == team.name
        await agent.send({"type": "typing", "conversation_id": cid, "on": False})
        typing = await visitor.expect("typing", WAIT, conversation_id=cid, on=False)
        assert typing["author"] == "agent"

        reply = await agent.say("On, koko 42 löytyy.", conversation_id=cid)
        assert reply["seq"] == 2
        heard = await visitor.expect("message", WAIT, seq=reply["seq"])
        assert heard["author"] == "agent"
        assert heard["body"] == "On, koko 42 löytyy."
        assert heard["author_name"] == team.name

        # Each message once, in order, on both ends.
        await visitor.quiet(1.0)
        await agent.quiet(1.0)
        assert [m["seq"] for m in messages(visitor)] == [1, 2], visitor.seen
        assert [m["seq"] for m in messages(agent)] == [1, 2], agent.seen
        assert [m["body"] for m in await stored(a, team, cid)] == [
            "Hei, onko tätä kokoa 42?",
            "On, koko 42 löytyy.",
        ]

        # The console closes on B: A no longer counts the agent.
        await agent.close()
        await eventually_online(a, team, 0)


@pytest.mark.redis
async def test_visitor_resyncs_after_its_worker_is_killed_and_restarted(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    team = await seed(database_url)
    async with running(database_url, redis_url, tmp_path, 2) as (a, b), sockets() as bag:
        token = await login(b, team.email)
        agent = await connected_agent(bag, b, token, team)
        await eventually_online(a, team, 1)

        vid = ck.new_visitor()
        visitor = bag.add(await ck.visitor(a.host, team.shop, vid))
        await visitor.expect("ready", WAIT)
        ack = await visitor.say("Tilaukseni on myöhässä")
        cid = ack["conversation_id"]
        first = await agent.say("Katson heti.", conversation_id=cid)
        await visitor.expect("message", WAIT, seq=first["seq"])
        await visitor.quiet(0.5)
        last_seen = max(m["seq"] for m in messages(visitor))
        assert last_seen == first["seq"] == 2

        a.kill()
        await dropped(visitor)

        # While A is down the agent (on B) goes on writing.
        sent = [await agent.say(f"Viesti {i}", conversation_id=cid) for i in (1, 2, 3)]
        assert [s["seq"] for s in sent] == [3, 4, 5]

        await a.start()  # same port, same database, same Redis
        back = bag.add(await ck.visitor(a.host, team.shop, vid))
        hello = await back.expect("ready", WAIT)
        assert hello["conversation"]["id"] == cid
        assert hello["conversation"]["last_seq"] == sent[-1]["seq"]
        assert hello["agents_online"] == 1

        await back.send({"type": "sync", "conversation_id": cid, "after": last_seen})
        synced = await back.expect("synced", WAIT, conversation_id=cid)
        assert synced["last_seq"] == sent[-1]["seq"]
        replayed = messages(back)
        assert [m["body"] for m in replayed] == ["Viesti 1", "Viesti 2", "Viesti 3"]
        assert [m["seq"] for m in replayed] == [s["seq"] for s in sent]
        assert all(m["author"] == "agent" for m in replayed)
        # Nothing again afterwards.
        assert [x for x in await back.quiet(1.5) if x.get("type") == "message"] == []

        # The restarted worker hears B live again, once.
        live = await agent.say("Vielä yksi asia", conversation_id=cid)
        got = await back.expect("message", WAIT, seq=live["seq"])
        assert got["body"] == "Vielä yksi asia"
        await back.quiet(1.0)
        assert [m["seq"] for m in messages(back)] == [3, 4, 5, 6]

        # And the visitor's own words from the restarted A reach the agent on B.
        mine = await back.say("Kiitos!")
        assert mine["seq"] == 7
        heard = await agent.expect("message", WAIT, seq=7, conversation_id=cid)
        assert heard["body"] == "Kiitos!"


async def test_single_worker_restart_replays_history_and_keeps_client_ids_idempotent(
    sqlite_url: str, tmp_path: Path
) -> None:
    team = await seed(sqlite_url)
    async with running(sqlite_url, None, tmp_path, 1) as (w,), sockets() as bag:
        token = await login(w, team.email)
        agent = await connected_agent(bag, w, token, team)
        vid = ck.new_visitor()
        visitor = bag.add(await ck.visitor(w.host, team.shop, vid))
        await visitor.expect("ready", WAIT)

        first = await visitor.say("Ensimmäinen", client_id="client-restart-0001")
        cid = first["conversation_id"]
        await agent.expect("message", WAIT, conversation_id=cid, seq=first["seq"])
        reply = await agent.say("Vastaus", conversation_id=cid)
        second = await visitor.say("Toinen", client_id="client-restart-0002")
        assert [first["seq"], reply["seq"], second["seq"]] == [1, 2, 3]
        await visitor.expect("message", WAIT, seq=reply["seq"])

        w.kill()
        await dropped(visitor)
        await dropped(agent)
        await w.start()

        back = bag.add(await ck.visitor(w.host, team.shop, vid))
        hello = await back.expect("ready", WAIT)
        assert hello["conversation"]["id"] == cid
        assert hello["conversation"]["last_seq"] == 3

        await back.send({"type": "sync", "conversation_id": cid, "after": 0})
        synced = await back.expect("synced", WAIT, conversation_id=cid)
        assert synced["last_seq"] == 3
        assert [(m["seq"], m["author"], m["body"]) for m in messages(back)] == [
            (1, "visitor", "Ensimmäinen"),
            (2, "agent", "Vastaus"),
            (3, "visitor", "Toinen"),
        ]
        assert [m["client_id"] for m in messages(back)][::2] == [
            "client-restart-0001",
            "client-restart-0002",
        ]

        # The ack of "Toinen" might have been lost with the worker: the client sends it again.
        again = await back.say("Toinen", client_id="client-restart-0002")
        assert (again["seq"], again["id"], again["conversation_id"]) == (
            second["seq"],
            second["id"],
            cid,
        )
        assert [x for x in await back.quiet(1.0) if x.get("type") == "message"] == []

        # A message in flight when the worker dies: whether or not it was stored, re-sending it
        # after the restart stores it exactly once.
        await back.send({"type": "message", "client_id": "client-restart-0003", "body": "Kolmas"})
        w.kill()
        await dropped(back)
        await w.start()
        last = bag.add(await ck.visitor(w.host, team.shop, vid))
        await last.expect("ready", WAIT)
        third = await last.say("Kolmas", client_id="client-restart-0003")
        assert third["seq"] == 4
        fourth = await last.say("Neljäs")
        assert fourth["seq"] == 5

        rows = await stored(w, team, cid)
        assert [(r["seq"], r["body"]) for r in rows] == [
            (1, "Ensimmäinen"),
            (2, "Vastaus"),
            (3, "Toinen"),
            (4, "Kolmas"),
            (5, "Neljäs"),
        ]

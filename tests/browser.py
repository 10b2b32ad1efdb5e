"""A real server process and a real Chromium (Debian's, driven by Playwright) for browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

CHROMIUM = os.environ.get("KOHTAAMO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("KOHTAAMO_SCREENSHOTS")  # a folder: tests then save what they see


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "; under CI=true browser tests must run", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(database_url: str, **env: str) -> Iterator[str]:
    """`kohtaamo serve` as its own process, exactly as an operator starts it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    exe = shutil.which("kohtaamo", path=str(Path(sys.executable).parent)) or "kohtaamo"
    full_env = {
        **os.environ,
        "KOHTAAMO_DATABASE_URL": database_url,
        "KOHTAAMO_PUBLIC_BASE_URL": base,
        "KOHTAAMO_SECRET_KEY": "browser-test-secret-key-0123456789abcdef",
        "KOHTAAMO_ANALYTICS_PATH": str(Path(tempfile.mkdtemp(prefix="kohtaamo-a-")) / "a.duckdb"),
        **env,
    }
    # The log goes to a file: an unread pipe fills up and blocks the server mid-request.
    log = tempfile.NamedTemporaryFile(prefix="kohtaamo-server-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.1)
        try:
            yield base
        except BaseException:
            sys.stderr.write(f"--- server log ---\n{Path(log.name).read_text()[-5000:]}\n")
            raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def shot(page: object, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]

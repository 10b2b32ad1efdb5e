"""Reachability of the real PostgreSQL and Redis the tests use. Under CI=true they must be there."""

from __future__ import annotations

import os
import socket

import pytest

PG_HOST = os.environ.get("KOHTAAMO_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("KOHTAAMO_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("KOHTAAMO_TEST_PG_USER", "postgres")
PG_DB = os.environ.get("KOHTAAMO_TEST_PG_DB", "test")
REDIS_URL = os.environ.get("KOHTAAMO_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def _open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if _open(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the {name} tests must run, not skip", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    require("PostgreSQL", PG_HOST, PG_PORT)


def require_redis() -> None:
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    require("Redis", host, int(port or 6379))

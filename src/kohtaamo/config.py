"""Settings from the environment (prefix ``KOHTAAMO_``); bad values fail at start, naming the setting."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE = "sqlite+aiosqlite:///./var/kohtaamo.db"
# Only these drivers are supported: the code is tested on both.
_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class ConfigError(RuntimeError):
    """A setting has a bad value; the message names it by its environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOHTAAMO_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_SQLITE
    redis_url: str | None = None
    secret_key: str = Field(default="", repr=False)
    public_base_url: str = "http://127.0.0.1:8000"
    environment: Literal["development", "production", "test"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_requests: bool = False

    # Tracking limits. The per-site rate is a setting so a benchmark or a big shop can raise it.
    track_rate_per_site: float = Field(default=300.0, gt=0)
    track_burst_per_site: int = Field(default=600, gt=0)
    track_max_body_bytes: int = Field(default=1_048_576, gt=1024)
    track_max_events: int = Field(default=500, ge=1, le=5000)
    track_max_props_bytes: int = Field(default=4096, ge=256)
    track_future_skew_seconds: int = Field(default=300, ge=0, le=30 * 86400)
    live_visit_ttl_seconds: int = Field(default=4 * 3600, ge=60)
    # The catch-all default rule backs off once this share of agent capacity is in use.
    rules_default_max_load: float = Field(default=0.5, gt=0, le=1)
    rules_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # How often each server process closes conversations idle past their workspace's limit
    # (chat.idle); 0 turns the sweep off (the simulator, which closes its own).
    chat_idle_sweep_seconds: float = Field(default=60.0, ge=0, le=3600)

    # The analytics archive (DuckDB). Server processes take turns filling it under a file lock
    # and every one reads its published snapshots (ADRs 0009, 0015); `false` leaves the filling
    # to `kohtaamo archive`.
    analytics_path: str = "./var/analytics.duckdb"
    analytics_fill_seconds: float = Field(default=15.0, ge=1, le=3600)
    analytics_settle_seconds: float = Field(default=10.0, ge=0, le=3600)
    analytics_snapshot_seconds: float = Field(default=15.0, ge=0, le=86400)
    analytics_in_server: bool = True

    login_attempts_per_window: int = Field(default=10, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    session_days: int = Field(default=14, ge=1)
    token_days: int = Field(default=30, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if v.startswith("postgresql://"):
            v = "postgresql+asyncpg://" + v.removeprefix("postgresql://")
        if v.startswith("sqlite:///"):
            v = "sqlite+aiosqlite:///" + v.removeprefix("sqlite:///")
        if not v.startswith(_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_SCHEMES)}")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1]
        return None if path in ("", ":memory:") else Path(path)


def load_settings(**overrides: object) -> Settings:
    """Read and check settings; raise ConfigError naming the variable on a bad value."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "KOHTAAMO_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    if settings.environment == "production" and len(settings.secret_key) < 32:
        raise ConfigError(
            "KOHTAAMO_SECRET_KEY: must be set to at least 32 characters in production"
        )
    if not settings.secret_key:
        # Development convenience: a per-process key; sessions do not survive a restart.
        settings = settings.model_copy(update={"secret_key": secrets.token_urlsafe(32)})
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

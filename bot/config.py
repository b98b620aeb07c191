"""Settings as one typed object built by a factory, never at import time.

Tests and the demo build their own ``Settings`` (``Settings(database_url=...)``) instead of
monkeypatching a module global.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class Settings(BaseSettings):
    """Everything an operator can set, from the environment or an optional ``.env`` file."""

    model_config = SettingsConfigDict(
        env_prefix="COHORTBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    discord_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "COHORTBOT_DISCORD_TOKEN", "discord_token"),
    )
    database_url: str = "sqlite+aiosqlite:///cohortbot.db"
    discord_api_base: str = DISCORD_API_BASE
    discord_gateway_url: str = DISCORD_GATEWAY_URL
    timezone: str = "Europe/London"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    # Signs the dashboard's sign-in links; unset: one is generated once and kept in the database.
    dashboard_secret: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    db_echo: bool = False
    guild_id: str | None = None
    scheduler_tick_seconds: float = Field(default=30.0, gt=0)
    # How long discord.py waits for more servers before READY; the local server needs less.
    guild_ready_timeout: float = Field(default=2.0, ge=0)
    # Who writes discussion evidence to a SQLite file: a child process (keeps the gateway's
    # event loop free), or a thread where child processes are not allowed.
    recorder_writer: Literal["process", "thread"] = "process"
    # Where /marks and the gradebook exports run on a SQLite file: processes beside the bot
    # (keep the event loop free for other commands at the end of term), or the loop itself.
    gradebook_workers: Literal["process", "loop"] = "process"
    # Largest roster file `roster import` reads (MB): a real cohort's is well under 1 MB.
    roster_max_mb: float = Field(default=10.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        """Refuse at start-up what SQLAlchemy would refuse later with a traceback."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL; use sqlite+aiosqlite:///FILE.db or "
                "postgresql+asyncpg://USER@HOST/DB"
            ) from None
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"unknown driver {url.drivername!r}; use one of {', '.join(SUPPORTED_DRIVERS)}"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def uses_local_discord(self) -> bool:
        """True when the bot talks to a Discord-compatible server instead of Discord."""
        return self.discord_api_base != DISCORD_API_BASE

    def redacted(self) -> dict[str, object]:
        """Settings safe to log: the token never leaves this object in clear."""
        data = self.model_dump()
        data["discord_token"] = "***" if self.discord_token else None
        data["dashboard_secret"] = "***" if self.dashboard_secret else None
        return data


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]

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
SLACK_API_URL = "https://slack.com/api/"
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
    #: Which chat platform ``cohortbot run`` connects to.
    platform: Literal["discord", "slack"] = "discord"
    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SLACK_BOT_TOKEN", "COHORTBOT_SLACK_BOT_TOKEN", "slack_bot_token"
        ),
    )
    #: Socket Mode's app-level token (``xapp-...``, scope ``connections:write``).
    slack_app_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SLACK_APP_TOKEN", "COHORTBOT_SLACK_APP_TOKEN", "slack_app_token"
        ),
    )
    #: HTTP mode: verifies that a request to ``/slack/events`` really comes from Slack.
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SLACK_SIGNING_SECRET", "COHORTBOT_SLACK_SIGNING_SECRET", "slack_signing_secret"
        ),
    )
    #: Socket Mode needs no public URL; HTTP mode needs Slack to reach ``/slack/events``.
    slack_mode: Literal["socket", "http"] = "socket"
    #: The Web API base; tests point it at a Slack-compatible local server.
    slack_api_url: str = SLACK_API_URL
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

    @field_validator("platform", "slack_mode", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        """slack_sdk joins the method name straight onto the base."""
        return value if value.endswith("/") else f"{value}/"

    def missing_for_run(self) -> str | None:
        """One line naming what ``cohortbot run`` lacks for the chosen platform and mode."""
        if self.platform == "discord":
            if not _given(self.discord_token):
                return "DISCORD_TOKEN is not set: put the bot token in the environment or in .env."
            return None
        needed = ["SLACK_BOT_TOKEN"]
        needed.append("SLACK_APP_TOKEN" if self.slack_mode == "socket" else "SLACK_SIGNING_SECRET")
        values = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
        }
        missing = [name for name in needed if not _given(values[name])]
        if not missing:
            return None
        what = " and ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        return (
            f"{what} {verb} not set: COHORTBOT_PLATFORM=slack in "
            f"{self.slack_mode} mode needs {' and '.join(needed)} (environment or .env)."
        )

    def secrets(self) -> list[str]:
        """Every secret set, for the log filter that keeps them out of the logs."""
        values = (
            self.discord_token,
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
        )
        return [v.get_secret_value() for v in values if _given(v)]  # type: ignore[union-attr]

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
        for name in ("discord_token", "slack_bot_token", "slack_app_token", "slack_signing_secret"):
            data[name] = "***" if getattr(self, name) else None
        data["dashboard_secret"] = "***" if self.dashboard_secret else None
        return data


def _given(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]

"""Operators configure cohortbot through the environment; mistakes are named, secrets hidden."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import DISCORD_API_BASE, Settings, get_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("COHORTBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.chdir(str(tmp_path))


def test_defaults_are_embedded_sqlite_and_real_discord() -> None:
    s = get_settings()
    assert s.database_url == "sqlite+aiosqlite:///cohortbot.db"
    assert s.discord_api_base == DISCORD_API_BASE
    assert s.timezone == "Europe/London"
    assert s.discord_token is None
    assert not s.uses_local_discord


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    Path(str(tmp_path), ".env").write_text("DISCORD_TOKEN=from-dotenv\nCOHORTBOT_WEB_PORT=9000\n")
    monkeypatch.setenv("COHORTBOT_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("COHORTBOT_DISCORD_API_BASE", "http://127.0.0.1:8111/api/v10")
    monkeypatch.setenv("COHORTBOT_LOG_LEVEL", "debug")
    s = get_settings()
    assert s.discord_token is not None
    assert s.discord_token.get_secret_value() == "from-dotenv"
    assert s.web_port == 9000
    assert s.database_url.startswith("postgresql+asyncpg://")
    assert s.uses_local_discord
    assert s.log_level == "DEBUG"


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        Settings(timezone="Mars/Olympus")


def test_token_is_never_in_the_printable_settings() -> None:
    s = Settings(discord_token="super-secret-token")  # type: ignore[arg-type]
    assert "super-secret-token" not in repr(s)
    assert "super-secret-token" not in str(s.redacted())

"""Log lines are plain or JSON, and the token never appears in either."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def _restore_root() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_and_token_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, secrets=["tok.en-123"])
    logging.getLogger("discord.http").info("Authorization: Bot %s", "tok.en-123")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["level"] == "INFO"
    assert record["logger"] == "discord.http"
    assert record["message"] == "Authorization: Bot ***"
    assert "tok.en-123" not in line


def test_plain_lines_respect_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", json_lines=False, secrets=[])
    logging.getLogger("bot").info("quiet")
    logging.getLogger("bot").warning("loud")
    err = capsys.readouterr().err
    assert "quiet" not in err
    assert "WARNING bot: loud" in err

"""`cohortbot run` on Slack refuses to start with one line naming what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, get_settings
from tests.unit.test_cli import cli


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"COHORTBOT_PLATFORM": "slack"},
            "SLACK_BOT_TOKEN and SLACK_APP_TOKEN are not set: COHORTBOT_PLATFORM=slack in "
            "socket mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN",
        ),
        (
            {"COHORTBOT_PLATFORM": "slack", "SLACK_BOT_TOKEN": "xoxb-1"},
            "SLACK_APP_TOKEN is not set: COHORTBOT_PLATFORM=slack in socket mode needs",
        ),
        (
            {"COHORTBOT_PLATFORM": "slack", "SLACK_APP_TOKEN": "xapp-1"},
            "SLACK_BOT_TOKEN is not set",
        ),
        (
            {"COHORTBOT_PLATFORM": "slack", "COHORTBOT_SLACK_MODE": "http", "SLACK_BOT_TOKEN": "x"},
            "SLACK_SIGNING_SECRET is not set: COHORTBOT_PLATFORM=slack in http mode needs "
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET",
        ),
        (
            {"COHORTBOT_PLATFORM": "slack", "SLACK_BOT_TOKEN": " ", "SLACK_APP_TOKEN": "x"},
            "SLACK_BOT_TOKEN is not set",
        ),
        ({}, "DISCORD_TOKEN is not set"),
    ],
)
def test_run_names_exactly_what_is_missing(tmp_path: Path, env: dict[str, str], says: str) -> None:
    clean = {"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": ""}
    out = cli("run", cwd=tmp_path, env={**clean, **env})
    assert out.returncode == 2
    assert says in one_line(out.stderr)


def test_an_unknown_platform_or_mode_is_one_line(tmp_path: Path) -> None:
    out = cli("run", cwd=tmp_path, env={"COHORTBOT_PLATFORM": "teams"})
    assert out.returncode == 2
    assert "bad setting COHORTBOT_PLATFORM: Input should be 'discord' or 'slack'" in one_line(
        out.stderr
    )


def test_the_api_url_gets_the_slash_slack_sdk_needs() -> None:
    settings = Settings(slack_api_url="http://127.0.0.1:9/api")
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert Settings().slack_api_url == "https://slack.com/api/"
    assert get_settings(platform="SLACK").platform == "slack"


def test_secrets_stay_out_of_the_redacted_settings() -> None:
    settings = get_settings(
        platform="slack",
        slack_bot_token="xoxb-secret",
        slack_app_token="xapp-secret",
        slack_signing_secret="sign-secret",
    )
    shown = str(settings.redacted())
    assert not {"xoxb-secret", "xapp-secret", "sign-secret"} & set(shown.split("'"))
    assert set(settings.secrets()) == {"xoxb-secret", "xapp-secret", "sign-secret"}

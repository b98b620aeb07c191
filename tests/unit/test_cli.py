"""The command line as an operator meets it: help with examples, clear one-line failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ["run", "migrate", "demo", "programme", "roster"]


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    base.pop("DISCORD_TOKEN", None)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = cli("--help", cwd=tmp_path)
    assert out.returncode == 0
    for name in COMMANDS:
        assert f"    {name}" in out.stdout


@pytest.mark.parametrize(
    "argv",
    [["run"], ["migrate"], ["demo"], ["programme", "load"], ["roster", "import"]],
)
def test_each_command_help_has_an_example(tmp_path: Path, argv: list[str]) -> None:
    out = cli(*argv, "--help", cwd=tmp_path)
    assert out.returncode == 0
    assert "Example" in out.stdout
    assert "cohortbot " in out.stdout.split("Example", 1)[1]


def test_run_without_token_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    out = cli("run", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "DISCORD_TOKEN is not set" in out.stderr


def test_run_refuses_an_unmigrated_database_without_leaking_the_token(tmp_path: Path) -> None:
    out = cli(
        "run",
        cwd=tmp_path,
        env={
            "DISCORD_TOKEN": "tok-123-secret",
            "COHORTBOT_WEB_PORT": "0",
            "COHORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
        },
    )
    assert out.returncode == 2
    assert "run `cohortbot migrate` first" in out.stderr
    assert "tok-123-secret" not in out.stderr + out.stdout


def test_migrate_then_check(tmp_path: Path) -> None:
    env = {"COHORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/m.db"}
    check = cli("migrate", "--check", cwd=tmp_path, env=env)
    assert check.returncode == 1 and "run `cohortbot migrate` first" in check.stderr
    first = cli("migrate", cwd=tmp_path, env=env)
    assert first.returncode == 0 and "Migrated the database from empty" in first.stdout
    again = cli("migrate", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "already at the current revision" in again.stdout
    assert cli("migrate", "--check", cwd=tmp_path, env=env).returncode == 0


def test_bad_setting_is_named(tmp_path: Path) -> None:
    out = cli("migrate", cwd=tmp_path, env={"COHORTBOT_TIMEZONE": "Europe/Londn"})
    assert out.returncode == 2
    assert "TIMEZONE" in out.stderr
    assert "unknown IANA time zone" in out.stderr


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    out = cli("programme", "load", "nope.toml", cwd=tmp_path)
    assert out.returncode == 2
    assert "no such file: nope.toml" in out.stderr

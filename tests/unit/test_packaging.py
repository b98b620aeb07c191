"""The Dockerfile installs with a plain `pip install .`: the installed package must be whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_non_editable_install_can_migrate(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "migrations" / "versions").is_dir()
    # The dashboard's templates ship with the package (the web server renders them).
    assert (target / "bot" / "web" / "templates" / "module.html").is_file()
    # So does the table of slash commands the cogs declare from.
    assert (target / "cogs" / "_shared" / "commands.toml").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    env["PYTHONPATH"] = str(target)
    env["COHORTBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/docker.db"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import bot, sys; from bot.cli import main; sys.exit(main(['migrate']))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Migrated the database from empty" in out.stdout
    check = subprocess.run(
        [sys.executable, "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(target) in check.stdout


def test_dockerfile_uses_the_same_install_and_start_as_the_makefile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "python -m pip install ." in dockerfile
    assert "pip install --quiet -e '.[dev]'" in makefile
    assert "cohortbot migrate && exec cohortbot run" in dockerfile
    assert "USER cohortbot" in dockerfile
    assert "FROM python:3.11-slim" in dockerfile

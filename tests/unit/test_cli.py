"""The command line as an operator meets it: help with examples, clear one-line failures."""

from __future__ import annotations

import os
import socket
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


def one_line(text: str) -> str:
    """The single line a failure prints (and proof there is only one, and no traceback)."""
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def roster_db(tmp_path: Path) -> dict[str, str]:
    env = {"COHORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/r.db"}
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert cli("migrate", cwd=tmp_path, env=env).returncode == 0
    loaded = cli("programme", "load", str(examples / "mlds-2025.toml"), cwd=tmp_path, env=env)
    assert loaded.returncode == 0
    first = cli(
        "roster",
        "import",
        str(examples / "roster-mlds-2025.csv"),
        "--cohort",
        "MLDS-2025",
        cwd=tmp_path,
        env=env,
    )
    assert first.returncode == 0, first.stderr
    (tmp_path / "late.csv").write_text(
        "student_number,name,email,discord,role,modules,group\n"
        "02510013,Nadia Haddad,,nadia.h,student,MATH70094;MATH70095,Turing\n",
        encoding="utf-8",
    )
    return env


def test_roster_import_of_late_joiners_withdraws_nobody(
    tmp_path: Path, roster_db: dict[str, str]
) -> None:
    out = cli("roster", "import", "late.csv", "--cohort", "MLDS-2025", cwd=tmp_path, env=roster_db)
    assert out.returncode == 0, out.stderr
    assert "enrolments: 2 added, 0 withdrawn." in out.stdout
    assert "15 persons not in the file were kept (--sync withdraws them)." in out.stdout


def test_a_sync_that_withdraws_staff_is_previewed_and_needs_yes(
    tmp_path: Path, roster_db: dict[str, str]
) -> None:
    args = ("roster", "import", "late.csv", "--cohort", "MLDS-2025", "--sync")
    preview = cli(*args, "--dry-run", cwd=tmp_path, env=roster_db)
    assert preview.returncode == 0
    assert "would add 1, change 0 and withdraw 15" in preview.stdout

    refused = cli(*args, cwd=tmp_path, env=roster_db)  # stdin is not a terminal here
    assert refused.returncode == 1
    line = one_line(refused.stderr)
    assert "15 of 15 people (100%, over --max-withdraw 10%)" in line
    assert "tutors or admins (Dr Helen Marsh, Dr Tomasz Zielinski, Priya Raman)" in line
    assert "--yes" in line and "Nothing changed" in line
    again = cli(*args, "--dry-run", cwd=tmp_path, env=roster_db)
    assert again.stdout == preview.stdout  # the refusal wrote nothing: still 1 to add

    done = cli(*args, "--yes", cwd=tmp_path, env=roster_db)
    assert done.returncode == 0, done.stderr
    assert "15 persons no longer on the roster withdrawn" in done.stdout


def test_an_oversized_roster_is_refused_naming_the_setting(
    tmp_path: Path, roster_db: dict[str, str]
) -> None:
    env = roster_db | {"COHORTBOT_ROSTER_MAX_MB": "0.0001"}
    out = cli("roster", "import", "late.csv", "--cohort", "MLDS-2025", cwd=tmp_path, env=env)
    assert out.returncode == 2
    assert "over the 0.0001 MB limit" in one_line(out.stderr)
    assert "COHORTBOT_ROSTER_MAX_MB" in out.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "COHORTBOT_DATABASE_URL: not a database URL"),
        ("foo://db/x", "COHORTBOT_DATABASE_URL: unknown driver 'foo'"),
        ("postgresql://postgres@127.0.0.1/test", "unknown driver 'postgresql'"),
        ("postgresql+asyncpg://postgres:pw@127.0.0.1:1/test", "Connect call failed"),
        ("sqlite+aiosqlite:///no/such/folder/x.db", "the folder"),
    ],
)
def test_migrate_with_an_unusable_database_is_one_line(tmp_path: Path, url: str, says: str) -> None:
    out = cli("migrate", cwd=tmp_path, env={"COHORTBOT_DATABASE_URL": url})
    assert out.returncode != 0
    line = one_line(out.stderr)
    assert line.startswith("cohortbot: ") and says in line
    assert "pw@" not in line  # a password in the URL is not printed


@pytest.mark.parametrize("argv", [["programme", "load"], ["roster", "import", "--cohort", "X"]])
def test_a_folder_instead_of_a_file_is_one_line(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "examples").mkdir()
    out = cli(*argv[:2], "examples", *argv[2:], cwd=tmp_path)
    assert out.returncode == 2
    assert one_line(out.stderr) == "cohortbot: examples is a folder; give the file inside it"


def test_deeply_nested_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    env = {"COHORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d.db"}
    assert cli("migrate", cwd=tmp_path, env=env).returncode == 0
    out = cli("programme", "load", "deep.toml", cwd=tmp_path, env=env)
    assert out.returncode == 1
    assert "nested hundreds of levels deep; nothing changed." in one_line(out.stderr)


def test_run_with_a_blank_token_is_one_line(tmp_path: Path) -> None:
    out = cli("run", cwd=tmp_path, env={"DISCORD_TOKEN": "  "})
    assert out.returncode == 2
    assert "DISCORD_TOKEN is not set" in one_line(out.stderr)


def test_run_with_the_web_port_taken_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = cli(
            "run",
            cwd=tmp_path,
            env={
                "DISCORD_TOKEN": "tok",
                "COHORTBOT_WEB_PORT": str(port),
                "COHORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
            },
        )
    assert out.returncode == 2
    line = one_line(out.stderr)
    assert f"127.0.0.1:{port}" in line and "already in use" in line
    assert "set COHORTBOT_WEB_PORT" in line


class _BrokenEntryPoint:
    """An entry point whose package is gone (metadata left behind by an old install)."""

    name = "demo"

    def load(self) -> object:
        raise ModuleNotFoundError("No module named 'cohortlab'")


@pytest.mark.parametrize("installed", [[], [_BrokenEntryPoint()]], ids=["absent", "stale"])
def test_demo_without_its_plug_in_says_so_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    installed: list[object],
) -> None:
    import bot.cli

    for key in [k for k in os.environ if k.startswith("COHORTBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bot.cli, "entry_points", lambda group: installed)
    assert bot.cli.main(["demo", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "demo command is not installed" in err
    assert not (tmp_path / "out").exists()


def test_the_demo_comes_from_the_installed_plug_in() -> None:
    from importlib.metadata import entry_points

    (demo,) = [ep for ep in entry_points(group="cohortbot.commands") if ep.name == "demo"]
    assert demo.value == "cohortlab.demo.cli:register"

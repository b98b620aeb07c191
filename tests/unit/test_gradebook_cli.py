"""`cohortbot export gradebook`: a module or the programme, CSV or XLSX, reproducible."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    env["COHORTBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_export_gradebook_help_has_examples(tmp_path: Path) -> None:
    out = cli("export", "gradebook", "--help", cwd=tmp_path, db=tmp_path / "x.db")
    assert out.returncode == 0
    assert "cohortbot export gradebook --module MATH70097" in out.stdout
    assert "docs/gradebook.md" in out.stdout


def test_export_module_and_programme(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    assert cli("migrate", cwd=tmp_path, db=db).returncode == 0
    assert (
        cli(
            "programme", "load", str(ROOT / "examples/mlds-2025.toml"), cwd=tmp_path, db=db
        ).returncode
        == 0
    )
    roster = str(ROOT / "examples/roster-mlds-2025.csv")
    assert (
        cli("roster", "import", roster, "--cohort", "MLDS-2025", cwd=tmp_path, db=db).returncode
        == 0
    )

    first = cli(
        "export", "gradebook", "--module", "math70097", "--out", "a.csv", cwd=tmp_path, db=db
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Wrote a.csv: MATH70097: 11 students")
    again = cli(
        "export", "gradebook", "--module", "MATH70097", "--out", "b.csv", cwd=tmp_path, db=db
    )
    assert again.returncode == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    header = (tmp_path / "a.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("student_number,name,discord,enrolment,")

    programme = cli("export", "gradebook", "--out", "p.xlsx", cwd=tmp_path, db=db)
    assert programme.returncode == 0, programme.stderr
    assert "MLDS-2025: 12 students × 12 modules" in programme.stdout
    assert (tmp_path / "p.xlsx").read_bytes()[:2] == b"PK"  # a zip: an XLSX workbook

    bad = cli("export", "gradebook", "--module", "NOPE", cwd=tmp_path, db=db)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "cohortbot: no module 'NOPE' in cohort MLDS-2025"
    wrong = cli("export", "gradebook", "--cohort", "X", cwd=tmp_path, db=db)
    assert wrong.returncode == 2 and "known: MLDS-2025" in wrong.stderr

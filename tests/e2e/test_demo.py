"""`make demo` runs `cohortbot demo`: it must finish, quickly, and show what people saw."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_the_term_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
    env.pop("DISCORD_TOKEN", None)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert "=== Meet the bot ===" in out.stdout
    assert "(only Amara Okafor sees this)" in out.stdout
    assert "Demo finished" in out.stdout
    assert "Traceback" not in out.stderr
    print(f"demo took {elapsed:.1f} s")

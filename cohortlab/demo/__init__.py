"""``cohortbot demo``: a scripted term against a built-in local Discord server (or, with
``--platform slack``, a local Slack workspace).

The demo builds the example cohort (examples/mlds-2025.toml and the example roster) on the local
server, runs the real bot against it on a fresh SQLite database, then plays the term of
``cohortlab/demo/term`` on a controllable clock, printing what tutors and students saw and
saving the exports. The term is written once against ``cohortlab.drive``: both platforms play
the same script and end with the same gradebook.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from bot.db.engine import Database
from cohortlab.drive import Cohort, start_cohort

# Monday of week 1 of the Spring term: a fixed start makes the transcript the same every run.
TERM_START = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)

__all__ = ["TERM_START", "run_demo", "run_term"]


def _introduce(cohort: Cohort, out: TextIO) -> None:
    print(
        f"The cohort: {len(cohort.tutors())} tutors, "
        f"{len(cohort.admins())} admin, {len(cohort.students())} students. "
        f"Clock starts {cohort.clock.now():%a %d %b %H:%M UTC}.",
        file=out,
    )


async def run_term(
    platform: str,
    out_dir: Path,
    out: TextIO = sys.stdout,
    *,
    settings: dict[str, Any] | None = None,
    serve: bool = False,
) -> bytes:
    """The term on ``platform`` on a fresh SQLite database; the module's exported gradebook
    (CSV; it and the other exports are written to ``out_dir``). ``serve``: afterwards keep the
    bot's web server up for the dashboard until Ctrl-C."""
    from cohortlab.demo.term import play_term

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}")
        cohort = await start_cohort(platform, db, start=TERM_START, settings=settings)
        try:
            _introduce(cohort, out)
            data = await play_term(cohort, out, out_dir)
            if serve:
                from cohortlab.demo.serve import serve_dashboard

                await serve_dashboard(cohort, out)
        finally:
            await cohort.stop()
            await db.dispose()
    return data


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)
    logging.getLogger("discord").setLevel(logging.ERROR)
    platform = str(getattr(args, "platform", None) or "discord")
    serve = bool(getattr(args, "serve", False))
    port = int(getattr(args, "port", 8080))
    web = {"web_port": port, "public_url": f"http://127.0.0.1:{port}"} if serve else None
    started = time.perf_counter()
    kind = "Slack workspace" if platform == "slack" else "Discord-compatible server"
    print(
        "cohortbot demo: building the MSc Machine Learning and Data Science cohort on a "
        f"local {kind} and starting the bot against it..."
    )
    try:
        await run_term(platform, args.out, settings=web, serve=serve)
    except Exception as exc:
        logging.getLogger(__name__).exception("the demo failed")
        print(f"!! the demo failed: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"\nDemo finished in {elapsed:.1f} s; files are in {args.out}/.")
    return 0

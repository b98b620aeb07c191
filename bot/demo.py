"""``cohortbot demo``: a scripted term against the built-in local Discord server.

Until the local server lands this only describes the run it will make.
"""

from __future__ import annotations

import argparse

from bot.config import Settings

PLAN = """cohortbot demo
  1. start a local Discord-compatible server with the MSc Machine Learning and Data Science
     cohort from examples/mlds-2025.toml (module channels, 2 tutors, 12 students in several
     time zones);
  2. run the real bot against it on a fresh SQLite database;
  3. play a scripted term on a controllable clock: a graded discussion prompt from opening to
     released marks, a peer-assessed exercise, a tutorial with reminders and check-in, a
     deadline with notices and an extension;
  4. print what tutors and students saw, and write the gradebook export.
The local server is not built yet, so this run stops here."""


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    print(PLAN)
    return 0

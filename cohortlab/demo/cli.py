"""``cohortbot demo`` as a plug-in: registered under the entry-point group ``cohortbot.commands``.

``bot/cli.py`` finds this through the installed distribution's metadata, so the core never
imports ``cohortlab`` and still offers the demo whenever this package is installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Settings


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from cohortlab.demo import run_demo

    return await run_demo(args, settings)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand to ``cohortbot``'s parser."""
    p = sub.add_parser(
        "demo",
        help="play a scripted term against a built-in local Discord server (no account needed)",
        description="Start a local Discord-compatible server (or Slack workspace) with a demo "
        "cohort, run the bot against it, play a scripted term and print what tutors and "
        "students saw; the exports go to --out.",
        epilog="Examples:\n  cohortbot demo --out demo-output\n  cohortbot demo --platform slack\n"
        "  cohortbot demo --serve --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for exports")
    p.add_argument(
        "--serve",
        action="store_true",
        help="after the term, keep the bot's web server up to browse the demo cohort's "
        "dashboard (sign-in links are printed); Ctrl-C stops it",
    )
    p.add_argument("--port", type=int, default=8080, help="web server port with --serve")
    p.add_argument(
        "--platform",
        choices=("discord", "slack"),
        default="discord",
        help="the local server to play the term on (default: discord); both play the same "
        "script (cohortlab/demo/term) and end with the same gradebook. Slack is slower: the "
        "bot paces its messages to Slack's rate limits",
    )
    p.set_defaults(handler=cmd_demo)

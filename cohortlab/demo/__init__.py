"""``cohortbot demo``: a scripted term against the built-in local Discord server.

The demo builds the example cohort (examples/mlds-2025.toml and the example roster) on a local
Discord-compatible server, runs the real bot against it on a fresh SQLite database, then plays
each step in ``cohortlab/demo/steps`` in order on a controllable clock, printing what tutors and
students saw.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import pkgutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from bot.db.engine import Database
from cohortlab.sandbox import Sandbox

# Monday of week 1 of the Spring term: a fixed start makes the transcript the same every run.
TERM_START = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)

Step = Callable[[Sandbox, "Transcript"], Awaitable[None]]


class Transcript:
    """A readable log of what people did and what the bot showed them."""

    def __init__(self, sandbox: Sandbox, out: TextIO = sys.stdout) -> None:
        self.sandbox = sandbox
        self.out = out
        self.out_dir: Path = Path("demo-output")

    def _when(self) -> str:
        now: datetime = self.sandbox.clock.now()
        return now.strftime("%a %d %b %H:%M UTC")

    def section(self, title: str) -> None:
        print(f"\n=== {title} ===", file=self.out)

    def note(self, text: str) -> None:
        print(f"    ({text})", file=self.out)

    def user(self, who: str, where: str, text: str) -> None:
        print(f"[{self._when()}] {who} in {where}: {text}", file=self.out)

    def bot(self, where: str, text: str, *, private_to: str | None = None) -> None:
        audience = f" (only {private_to} sees this)" if private_to else ""
        lines = text.strip().splitlines() or [""]
        print(f"[{self._when()}] cohortbot in {where}{audience}: {lines[0]}", file=self.out)
        for line in lines[1:]:
            print(f"        {line}", file=self.out)


def discover_steps() -> list[tuple[str, Step]]:
    import cohortlab.demo.steps as package

    steps: list[tuple[str, Step]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module: Any = importlib.import_module(f"cohortlab.demo.steps.{info.name}")
        play = getattr(module, "play", None)
        if play is not None:
            steps.append((info.name, play))
    return steps


async def run_shared_term(platform: str, out_dir: Path, out: TextIO = sys.stdout) -> bytes:
    """The term of ``cohortlab.demo.term`` on ``platform``, on a fresh SQLite database; the
    module's exported gradebook (also written to ``out_dir``)."""
    from cohortlab.demo.term import MODULE, play_term
    from cohortlab.drive import start_cohort

    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}")
        cohort = await start_cohort(platform, db, start=TERM_START)
        try:
            data = await play_term(cohort, out)
        finally:
            await cohort.stop()
            await db.dispose()
    await asyncio.to_thread((out_dir / f"gradebook-{MODULE}-{platform}.csv").write_bytes, data)
    return data


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=logging.WARNING)
    platform = getattr(args, "platform", None)
    if platform is not None:
        logging.getLogger("slack_bolt").setLevel(logging.ERROR)
        logging.getLogger("discord").setLevel(logging.ERROR)
        started = time.perf_counter()
        print(
            "cohortbot demo: building the MSc Machine Learning and Data Science cohort on a "
            f"local {platform.capitalize()}-compatible server and starting the bot against it..."
        )
        await run_shared_term(str(platform), args.out)
        elapsed = time.perf_counter() - started
        print(f"\nDemo finished in {elapsed:.1f} s; files are in {args.out}/.")
        return 0
    logging.getLogger("discord").setLevel(logging.ERROR)
    started = time.perf_counter()
    out_dir: Path = args.out
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}")
        serve = bool(getattr(args, "serve", False))
        port = int(getattr(args, "port", 8080))
        web = {"web_port": port, "public_url": f"http://127.0.0.1:{port}"} if serve else {}
        box = Sandbox(db, start=TERM_START, settings=web)
        print(
            "cohortbot demo: building the MSc Machine Learning and Data Science cohort on a "
            "local Discord-compatible server and starting the bot against it..."
        )
        world = await box.start()
        transcript = Transcript(box)
        transcript.out_dir = out_dir
        print(
            f"Server {world.guild.name!r}: {len(world.channels)} module channels, "
            f"{len(world.tutors())} tutors, {len(world.admins())} admin, "
            f"{len(world.students())} students. Clock starts {transcript._when()}."
        )
        failed = False
        try:
            for name, play in discover_steps():
                try:
                    await play(box, transcript)
                except Exception as exc:
                    failed = True
                    logging.getLogger(__name__).exception("demo step %s failed", name)
                    print(f"!! demo step {name} failed: {exc}", file=sys.stderr)
                    break
            if serve and not failed:
                from cohortlab.demo.serve import serve_dashboard

                await serve_dashboard(box, world)
        finally:
            await box.stop()
            await db.dispose()
    elapsed = time.perf_counter() - started
    print(f"\nDemo finished in {elapsed:.1f} s; files are in {out_dir}/.")
    return 1 if failed else 0

"""The scripted term of ``cohortbot demo`` (``make demo``), written once against
``cohortlab.drive`` so the same people do the same things on Discord and on Slack
(``--platform``) and the database ends the same: ``tests/parity/test_demo.py`` compares the
two gradebooks.

The steps, in order: the bot introduces itself (``welcome``); a graded discussion prompt from
scheduling to released marks (``discussions``); a peer-assessed exercise from submissions to
anonymous feedback (``peer``); tutorials, deadlines, notices and an extension (``calendar``);
participation marks, a correction, imported component marks, release and the exports
(``gradebook``). Each prints what tutors and students saw.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cohortlab.drive import Cohort, File, Person, Reply
from cohortlab.drive.catalogue import parity_rows

MODULE = "MATH70097"
#: Export columns naming a student's chat handle: they differ by platform by design.
HANDLES = ("discord", "slack", "handle")
#: The bot's machine-readable marker lines ("cohortbot out 12"): not what a reader looks at.
_MARKER = re.compile(r"^(-# )?cohortbot [a-z]+ \d+")
#: A shown option value longer than this is cut.
_SHOWN_CHARS = 48


class Log:
    """A readable transcript of what people did and what the bot showed them."""

    def __init__(self, cohort: Cohort, out: TextIO) -> None:
        self.cohort = cohort
        self.out = out

    def _when(self) -> str:
        return self.cohort.clock.now().strftime("%a %d %b %H:%M UTC")

    def section(self, title: str) -> None:
        print(f"\n=== {title} ===", file=self.out)

    def note(self, text: str) -> None:
        print(f"    ({text})", file=self.out)

    def print(self, text: str) -> None:
        print(text, file=self.out)

    def user(self, who: Person, where: str, text: str) -> None:
        print(f"[{self._when()}] {who.display_name} in {where}: {text}", file=self.out)

    def bot(self, where: str, text: str, *, to: Person | None = None) -> None:
        audience = f" (only {to.display_name} sees this)" if to else ""
        lines = text.strip().splitlines() or [""]
        shown = [lines[0], *(x for x in lines[1:] if not _MARKER.match(x))]
        while len(shown) > 1 and not shown[-1].strip():
            shown.pop()
        print(f"[{self._when()}] cohortbot in {where}{audience}: {shown[0]}", file=self.out)
        for line in shown[1:]:
            print(f"        {line}", file=self.out)


@dataclass
class Term:
    """What every step shares: the cohort, the transcript and the folder for exports."""

    cohort: Cohort
    log: Log
    out_dir: Path
    #: Files written to ``out_dir``, in order.
    saved: list[str] = field(default_factory=list)
    #: The module's gradebook as the tutor exported it (CSV), once the last step ran.
    gradebook: bytes = b""

    @property
    def channel(self) -> str:
        """The module channel, as the transcript names it."""
        return f"#{self.cohort.channel_name(MODULE)}"

    def place(self, where: str | None) -> str:
        return f"#{self.cohort.channel_name(where)}" if where else self.cohort.outside

    async def save(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self.out_dir.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread((self.out_dir / name).write_bytes, data)
        self.saved.append(name)

    async def say(
        self,
        person: Person,
        command: str,
        *,
        where: str | None = MODULE,
        shown: str | None = None,
        **options: Any,
    ) -> Reply:
        """``/command`` as ``person`` types it, and the bot's private answer (unless it opened
        a form); ``shown`` replaces the options in the transcript."""
        typed = shown if shown is not None else " ".join(_option(k, v) for k, v in options.items())
        self.log.user(person, self.place(where), f"/{command} {typed}".strip())
        reply = await person.command(command, where=where, **options)
        if not reply.form:
            self.log.bot(self.place(where), reply.text, to=person)
        return reply


def _option(name: str, value: Any) -> str:
    if isinstance(value, Person):
        return f"{name}:@{value.name}"
    if isinstance(value, File):
        return f"{name}:{value.name}"
    text = str(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "…"
    return f"{name}:{text}"


def words(n: int, sentence: str) -> str:
    """A readable answer of ``n`` words built from a sentence."""
    parts = sentence.split()
    return " ".join(parts[i % len(parts)] for i in range(n))


def number(text: str, prefix: str = "#") -> int:
    """The first ``#12`` in a bot's answer (the id it gave what was just made)."""
    found = re.search(re.escape(prefix) + r"(\d+)", text)
    assert found is not None, f"no {prefix}<number> in {text!r}"
    return int(found[1])


def brief(text: str) -> str:
    """A long post as the transcript shows it: its start and its length in words."""
    return text if len(text) < 90 else f"{text[:80]}… ({len(text.split())} words)"


Step = Callable[[Term], Awaitable[None]]


def _steps() -> list[tuple[str, Step]]:
    from cohortlab.demo.term import calendar, discussions, gradebook, peer, welcome

    return [
        ("welcome", welcome.play),
        ("discussions", discussions.play),
        ("peer", peer.play),
        ("calendar", calendar.play),
        ("gradebook", gradebook.play),
    ]


async def play_term(cohort: Cohort, out: TextIO, out_dir: Path) -> bytes:
    """Play every step; returns the module's exported gradebook (CSV), also in ``out_dir``."""
    term = Term(cohort, Log(cohort, out), out_dir)
    for _name, play in _steps():
        await play(term)
    rows = parity_rows()
    missing = [r for r in rows if r[2] != "yes"]
    term.log.section("Feature parity")
    term.log.print(f"{len(rows) - len(missing)} of {len(rows)} commands on both platforms")
    for command, _discord, slack in missing:
        term.log.print(f"  {command}: Slack {slack}")
    return term.gradebook


def gradebook_rows(data: bytes) -> list[dict[str, str]]:
    """The exported rows without the column naming each student's chat handle (which differs
    by platform by design): what the two platforms' gradebooks must agree on."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    return [{k: v for k, v in row.items() if k not in HANDLES} for row in rows]

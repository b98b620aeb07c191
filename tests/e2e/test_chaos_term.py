"""A chaos term: nothing lost, nothing counted twice, across kills, drops, openings and closes.

A seeded random term runs in real time through the local Discord server against
``cohortbot run`` as its own process (configured by environment variables only): prompts open
(several at once) and close, students post, reply, edit and delete, also the moment a thread
is created and around the close; late answers come through ``/prompt answer``; a peer exercise
gets submissions and reviews and a reviewer leaves the server; deadline and tutorial notices
fall due; and at 20 or more random moments the bot is SIGKILLed (and restarted) or its gateway
connection is dropped, cut, invalidated or asked to reconnect.

At the end, judged from what the server holds and from the database:

- every message in a prompt's thread is recorded exactly once (by message id), deleted ones
  flagged, edits kept; each prompt posted once and closed once;
- the ledger equals the credits recomputed from the record (``bot.gradebook.reconcile``), for
  every student and item;
- every notice due was sent exactly once (its marker found once), or skipped as
  docs/calendar.md documents;
- every submission has k reviews, or the tutor was told why.

Two seeds per backend run by default; ``COHORTBOT_CHAOS_SEEDS=3,5`` or ``=0-9`` chooses others.
A run takes about four minutes per seed and database; a claim left by a killed process (a prompt
opening or closing, a notice) is retried only after its documented lease, so a seed whose kill
lands there waits for it (up to about eight minutes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.db.engine import Database
from cohortlab.localdiscord.server import LocalDiscordServer
from tests.chaos.term import ChaosTerm, make_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _seeds() -> list[int]:
    """``COHORTBOT_CHAOS_SEEDS``: seeds and ranges, ``7`` or ``3,5`` or ``0-9``; default 1 and 2."""
    raw = os.environ.get("COHORTBOT_CHAOS_SEEDS", "").strip()
    if not raw:
        return [1, 2]
    seeds: list[int] = []
    for part in raw.split(","):
        first, _, last = part.strip().partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


@pytest.mark.parametrize("seed", _seeds())
async def test_a_chaos_term_loses_nothing_and_counts_nothing_twice(
    db: Database, tmp_path: Path, seed: int
) -> None:
    async with LocalDiscordServer() as server:
        term = ChaosTerm(server, db, tmp_path, seed)
        try:
            plan = make_plan(seed, students=11)
            await term.set_up(plan)
            await term.run(plan)
            await term.settle(plan)
            record, counts = await term.record_problems()
            ledger = await term.ledger_problems()
            notices, sent = await term.notice_problems()
            peer, reviews = await term.peer_problems(plan)
            exit_code = await term.bot.stop()
        finally:
            await term.bot.close()
        t = term.tally
        summary = (
            f"chaos term seed={seed} backend={db.url.split(':', 1)[0]} "
            f"messages={counts['messages']} (deleted {counts['deleted']}, "
            f"never seen {counts['unseen_deleted']}, edits {t.edits}) "
            f"kills={t.kills} drops={t.drops} notices={sent} reviews={reviews} "
            f"late_answers={t.late_answers} submissions={t.submissions} "
            f"lost={counts['lost']} duplicated={counts['duplicated']}"
        )
        print("\n" + summary)
        problems = (
            [f"record: {p}" for p in record]
            + [f"ledger: {p}" for p in ledger]
            + [f"notices: {p}" for p in notices]
            + [f"peer: {p}" for p in peer]
        )
        problems += [
            f"settling: {n}" for n in t.notes if n.startswith(("never settled", "gave up"))
        ]
        if exit_code != 0:
            problems.append(f"the bot exited {exit_code} on SIGTERM")
        if t.kills + t.drops < 20:
            problems.append(f"only {t.kills + t.drops} faults happened")
        detail = "\n".join(problems[:60])
        notes = "\n".join(t.notes[-20:])
        print("\n".join(problems) + f"\n-- notes:\n{notes}")
        assert not problems, (
            f"{summary}\n{detail}\n-- notes:\n{notes}\n-- bot log tail:\n{term.bot.log_tail()}"
        )
        assert server.internal_errors == [], server.internal_errors

"""The bot introduces itself to a student."""

from __future__ import annotations

from cohortlab.demo.term import MODULE, Term


async def play(term: Term) -> None:
    term.log.section("Meet the bot")
    await term.say(term.cohort.students(MODULE)[0], "about", where=None)

"""Each confirmed team gets a private thread in the module's channel, with its members and the
module's tutors, and a message giving its shared hours (Discord timestamps, so everyone reads
their own time) and why it was formed.

Threads are opened outside the command's transaction (the set is confirmed first), one team at
a time, each thread id recorded as soon as it exists: a retry after a failure opens only the
missing ones. The message goes through the outbox (key per set and team), enqueued with the
team marked announced in one transaction, so it is posted exactly once; a run again puts a
message the platform refused for good back in the queue. A team holding all the remaining
members of a previous team (a re-formed set) keeps its thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from bot import outbox
from bot.access.context import ContextOpener
from bot.chat import ChatError, ChatPort, OutgoingMessage
from bot.db.engine import Database
from bot.db.models import (
    Enrolment,
    EnrolmentStatus,
    Module,
    Person,
    Role,
    Team,
    TeamSet,
    TeamSetStatus,
)
from bot.outbox import Outbox
from bot.outbox.store import retry_now
from bot.teams import availability as av
from bot.teams import forming, render
from bot.teams import reads as R

FEATURE = "teams"


def message_key(set_id: int, team_id: int) -> str:
    return f"teams:team-message:{set_id}:{team_id}"


@dataclass
class ThreadReport:
    opened: int = 0
    reused: int = 0
    problems: list[str] = field(default_factory=list)
    #: The outbox messages carrying the teams' messages (a reply may say if they were posted).
    keys: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = [f"{self.opened} team thread(s) opened"]
        if self.reused:
            parts.append(f"{self.reused} kept from before")
        text = ", ".join(parts) + "."
        if self.problems:
            text += " Could not finish: " + "; ".join(self.problems) + "."
        return text


async def _tutor_ids(db: Database, module_id: int) -> list[str]:
    async with db.session() as s:
        rows = await s.execute(
            select(Person.platform_user_id)
            .join(Enrolment, Enrolment.person_id == Person.id)
            .where(
                Enrolment.module_id == module_id,
                Enrolment.role == Role.TUTOR,
                Enrolment.status == EnrolmentStatus.ACTIVE,
            )
        )
        return [u for u in rows.scalars() if u]


async def team_message(
    db: Database, set_id: int, team_id: int, tutors: list[str], now: datetime
) -> tuple[OutgoingMessage, list[str]]:
    """The team's opening message and the members' chat ids."""
    async with db.session() as s:
        team_set = await s.get(TeamSet, set_id)
        assert team_set is not None
        module = await s.get(Module, team_set.module_id)
        assert module is not None
        teams = await R.teams_of(s, team_set)
        team, members = next((t, m) for t, m in teams if t.id == team_id)
        answers = await R.answers_of(s, module, [p.id for p in members])
    mask = R.mask_of(team)
    covered = sorted({c for p in members for c in answers.get(p.id, {}).values()})
    ids = [p.platform_user_id for p in members if p.platform_user_id]
    why = render.why_formed(
        shared_hours=av.hours(mask),
        longest_hours=av.longest_run(mask) / av.SLOTS_PER_HOUR,
        min_hours=team_set.min_minutes / 60,
        balance=team.balance,
        worst_balance=min(t.balance for t, _ in teams),
        answers=covered,
    )
    text = "\n".join(
        [
            f"**{module.code} — team {team.number}**",
            "Members: " + " ".join(f"<@{u}>" for u in ids),
            "Tutor(s): " + (" ".join(f"<@{u}>" for u in tutors) or "—"),
            "**When you can all meet** (each of you sees your own time):",
            *render.shared_lines(mask, team_set.reference_week, now),
            f"**Why this team:** {why}",
        ]
    )
    return OutgoingMessage(text=text, mention_user_ids=tuple(ids)), ids


async def open_threads(
    db: Database, chat: ChatPort, set_id: int, *, now: datetime, extra_staff: tuple[str, ...] = ()
) -> ThreadReport:
    """Open (or reuse) a private thread per team of an active set and post its message."""
    report = ThreadReport()
    async with db.session() as s:
        team_set = await s.get(TeamSet, set_id)
        if team_set is None or team_set.status is not TeamSetStatus.ACTIVE:
            return report
        module = await s.get(Module, team_set.module_id)
        assert module is not None
        teams = [
            (t.id, t.number, t.thread_id, t.announced_at is not None, {p.id for p in m})
            for t, m in await R.teams_of(s, team_set)
        ]
        earlier = (
            await s.execute(
                select(TeamSet)
                .where(
                    TeamSet.module_id == module.id,
                    TeamSet.status == TeamSetStatus.SUPERSEDED,
                    TeamSet.id != set_id,
                )
                .order_by(TeamSet.confirmed_at.desc(), TeamSet.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        before = (
            [
                (t.thread_id, {p.id for p in m})
                for t, m in await R.teams_of(s, earlier)
                if t.thread_id
            ]
            if earlier
            else []
        )
        channel_id, code = module.channel_id, module.code
    if channel_id is None:
        report.problems.append(f"{code} has no channel on this server, so no threads")
        return report
    tutors = sorted({*await _tutor_ids(db, module.id), *extra_staff})
    everyone: set[int] = set().union(*(m for *_, m in teams)) if teams else set()
    taken = {thread_id for _, _, thread_id, _, _ in teams if thread_id}
    announced_keys = [message_key(set_id, t) for t, _, _, announced, _ in teams if announced]
    if announced_keys:
        async with db.session() as s:
            await retry_now(s, announced_keys)  # refused for good before: try again
    for team_id, number, thread_id, announced, member_ids in teams:
        if announced:
            continue
        try:
            if thread_id is None:
                thread_id = _earlier_thread(before, everyone, member_ids, taken)
                reused = thread_id is not None
                if thread_id is None:
                    thread_id = await chat.create_thread(
                        channel_id, f"{code} team {number}", private=True
                    )
                await _record(db, team_id, thread_id=thread_id)  # a retry never opens it twice
            else:
                reused = thread_id in {tid for tid, _ in before}
            message, ids = await team_message(db, set_id, team_id, tutors, now)
            for user_id in [*ids, *tutors]:
                await chat.add_thread_member(thread_id, user_id)
            key = message_key(set_id, team_id)
            async with db.session() as s:
                await outbox.enqueue(
                    s,
                    [
                        outbox.Message(
                            key=key,
                            feature=FEATURE,
                            kind="team_message",
                            text=message.text,
                            channel_id=thread_id,
                            mention_user_ids=message.mention_user_ids,
                            scope_id=set_id,
                            ref_id=team_id,
                        )
                    ],
                    now,
                )
                row = await s.get(Team, team_id)
                assert row is not None
                row.announced_at = now
            report.keys.append(key)
        except ChatError as exc:
            report.problems.append(f"team {number}: {exc.kind.value}")
            continue
        if reused:
            report.reused += 1
        else:
            report.opened += 1
    return report


def _earlier_thread(
    before: list[tuple[str, set[int]]], everyone: set[int], members: set[int], taken: set[str]
) -> str | None:
    """The thread of an earlier team whose remaining members are all in this one (a re-form
    kept it whole); each earlier thread goes to one team at most."""
    for thread_id, old in before:
        staying = old & everyone
        if thread_id not in taken and len(staying) >= 2 and staying <= members:
            taken.add(thread_id)
            return thread_id
    return None


async def _record(
    db: Database,
    team_id: int,
    *,
    thread_id: str | None = None,
    announced_at: datetime | None = None,
) -> None:
    async with db.session() as s:
        row = await s.get(Team, team_id)
        assert row is not None
        if thread_id is not None:
            row.thread_id = thread_id
        if announced_at is not None:
            row.announced_at = announced_at


async def add_to_thread(chat: ChatPort, thread_id: str, user_id: str, note: str) -> str | None:
    """After a move: the student joins their new team's thread, which hears why."""
    try:
        await chat.add_thread_member(thread_id, user_id)
        await chat.post(thread_id, OutgoingMessage(text=note))
    except ChatError as exc:
        return f"Could not add them to the team thread ({exc.kind.value}); please add them."
    return None


async def create_teams(
    context: ContextOpener,
    db: Database,
    chat: ChatPort,
    sender: Outbox,
    set_id: int,
    *,
    now: datetime,
    staff_user_id: str,
) -> str:
    """Confirm a proposal (roster-checked), then open its team threads outside that
    transaction, and say how it went: what both platforms answer the tutor who confirms."""
    async with context() as ctx:
        done = await forming.confirm(ctx.session, ctx.caller, ctx.cohort, set_id=set_id, now=now)
    report = await open_threads(db, chat, set_id, now=now, extra_staff=(staff_user_id,))
    posted = ""
    if report.keys:
        delivery = await sender.delivery(report.keys)
        if delivery.missed:
            posted = f" {len(delivery.missed)} team message(s) could not be posted."
        elif delivery.pending:
            posted = " Posting the team messages is still under way."
    return f"{done.render()} {report.render()}{posted}"

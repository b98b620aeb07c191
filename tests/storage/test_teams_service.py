"""Teams on a real database (SQLite, and PostgreSQL when configured): availability, survey,
forming with a dry run, threads through a recording chat port, moves, re-forming, export, and
the peer exercises' group rule."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select, update

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, load_caller
from bot.chat import ChatError, ChatErrorKind, ChatMessage, ChatPort, OutgoingMessage, Posted
from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    Enrolment,
    EnrolmentStatus,
    Module,
    Person,
    TeamSet,
    TeamSetStatus,
)
from bot.discord_links import DISCORD_LINKS
from bot.errors import PermissionDenied, UserError
from bot.outbox import deliver
from bot.peer.reads import kin_of
from bot.roster.service import import_roster, load_programme
from bot.teams import service
from bot.teams.threads import ThreadReport, open_threads
from cohortlab.sandbox import example_texts

MODULE = "MATH70097"
NOW = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)  # a Wednesday; the term crosses both DST changes
GUILD = "600000000000000001"
TUTOR = "tomaszz_stats"
STUDENTS = [
    "amara.codes",
    "lukasb_92",
    "meilin.tan",
    "dfernandez.ml",
    "aisha_r",
    "zoe.hartmann",
    "kwamem",
    "sofiarossi.data",
    "hsato_dev",
    "emclarke",
    "rahul.iyer",
]


@dataclass
class ThreadChat:
    """The chat port as a recorder of threads, members and posts."""

    links = DISCORD_LINKS

    threads: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    posts: list[tuple[str, OutgoingMessage]] = field(default_factory=list)
    #: How many of the next posts Discord refuses (as unavailable).
    failing_posts: int = 0

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        if self.failing_posts:
            self.failing_posts -= 1
            raise ChatError(ChatErrorKind.UNAVAILABLE, "HTTP 503")
        self.posts.append((channel_id, message))
        return Posted(channel_id, str(len(self.posts)))

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        raise NotImplementedError

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        raise NotImplementedError

    async def create_thread(
        self,
        channel_id: str,
        name: str,
        *,
        from_message_id: str | None = None,
        private: bool = False,
    ) -> str:
        thread_id = str(700000000000000000 + len(self.threads))
        self.threads[thread_id] = (channel_id, name, private)
        return thread_id

    async def add_thread_member(self, thread_id: str, user_id: str) -> None:
        self.members.setdefault(thread_id, []).append(user_id)

    async def set_thread_state(
        self, thread_id: str, *, locked: bool | None = None, archived: bool | None = None
    ) -> None:
        raise NotImplementedError

    async def dm_channel_id(self, user_id: str) -> str:
        return f"dm-{user_id}"

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        if False:  # pragma: no cover - an empty async generator
            yield


class Course:
    def __init__(self, db: Database, cohort: Cohort, people: dict[str, Person]) -> None:
        self.db = db
        self.cohort = cohort
        self.people = people
        self.chat = ThreadChat()

    def user(self, username: str) -> ChatUser:
        p = self.people[username]
        assert p.platform_user_id is not None
        return ChatUser(p.platform_user_id, username, p.display_name)

    async def act(self, username: str, fn: Any, **kwargs: Any) -> Any:
        async with self.db.session() as s:
            cohort = await s.get(Cohort, self.cohort.id)
            caller: Caller = await load_caller(s, self.cohort.id, self.user(username))
            return await fn(s, caller, cohort, **kwargs)

    async def free(self, username: str, text: str, zone: str = "Europe/London") -> Any:
        return await self.act(username, service.set_availability, text=text, zone=zone, now=NOW)

    async def form(self, **options: Any) -> service.Proposal:
        settings: dict[str, Any] = {
            "module_code": MODULE,
            "size_min": 3,
            "size_max": 4,
            "min_hours": 2,
            "now": NOW,
            "time_limit": 5.0,
        }
        settings.update(options)
        result: service.Proposal = await self.act(TUTOR, service.form, **settings)
        return result


@pytest.fixture
async def course(db: Database) -> Course:
    programme, roster = example_texts()
    async with db.session() as s:
        loaded = await load_programme(s, programme)
        await import_roster(s, loaded.cohort_code, roster)
    async with db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        cohort.guild_id = GUILD
        for i, p in enumerate((await s.execute(select(Person).order_by(Person.id))).scalars()):
            p.platform_user_id = p.platform_user_id or str(800000000000000000 + i)
        for i, m in enumerate((await s.execute(select(Module))).scalars()):
            m.channel_id = str(500000000000000000 + i)
    async with db.session() as s:
        cohort = (await s.execute(select(Cohort))).scalar_one()
        by_name = {p.platform_username: p for p in (await s.execute(select(Person))).scalars()}
    return Course(db, cohort, {str(k): v for k, v in by_name.items() if k})


async def threads(course: Course, set_id: int, at: datetime = NOW) -> ThreadReport:
    """Open the set's threads, then the outbox's run that posts the teams' messages."""
    report = await open_threads(course.db, course.chat, set_id, now=at)
    await deliver(course.db, cast(ChatPort, course.chat), at)
    return report


async def test_availability_defaults_to_evenings_and_weekends_and_is_shown_back(
    course: Course,
) -> None:
    view = await course.act("amara.codes", service.availability, now=NOW)
    assert not view.given
    assert "Mon 19:00–23:00" in view.text and "Sat 10:00–18:00" in view.text
    assert view.hours == 36.0
    view = await course.free("amara.codes", "Mon-Fri 20:00-22:00; sat 9-17", zone="Asia/Tokyo")
    assert view.given and view.zone == "Asia/Tokyo"
    assert view.text.startswith("Mon 20:00–22:00") and view.hours == 18.0
    assert "Asia/Tokyo" in view.render()
    with pytest.raises(UserError, match="Could not read"):
        await course.free("amara.codes", "evenings")
    with pytest.raises(UserError, match="Unknown time zone"):
        await course.free("amara.codes", "Mon 20:00-22:00", zone="Mars/Olympus")


async def test_survey_is_set_by_tutors_and_answered_privately(course: Course) -> None:
    with pytest.raises(PermissionDenied):
        await course.act(
            "amara.codes", service.set_survey, module_code=MODULE, text="Role: a, b", now=NOW
        )
    survey = await course.act(
        TUTOR,
        service.set_survey,
        module_code=MODULE,
        text="Strongest skill: programming, statistics, writing\nPreferred role: lead, builder",
        now=NOW,
    )
    assert [q.text for q in survey.questions] == ["Strongest skill", "Preferred role"]
    first = survey.questions[0]
    said = await course.act(
        "amara.codes", service.answer_survey, question_id=first.id, choice="statistics", now=NOW
    )
    assert "statistics" in said
    mine = await course.act("amara.codes", service.survey, module_code=MODULE)
    assert mine.questions[0].answer == "statistics"
    with pytest.raises(UserError, match="not one of the choices"):
        await course.act(
            "amara.codes", service.answer_survey, question_id=first.id, choice="magic", now=NOW
        )
    with pytest.raises(UserError, match="at least two choices"):
        await course.act(TUTOR, service.set_survey, module_code=MODULE, text="Role: only", now=NOW)


async def test_dry_run_then_confirm_opens_a_private_thread_per_team(course: Course) -> None:
    await course.act(
        TUTOR,
        service.set_survey,
        module_code=MODULE,
        text="Skill: programming, statistics, writing",
        now=NOW,
    )
    proposal = await course.form()
    assert "dry run" in proposal.render()
    assert sum(len(t.members) for t in proposal.teams) == len(STUDENTS)
    assert all(3 <= len(t.members) <= 4 for t in proposal.teams)
    assert all(t.longest_hours >= 2 for t in proposal.teams)
    assert course.chat.threads == {}  # nothing is created by a dry run
    with pytest.raises(UserError, match="no teams yet"):
        await course.act("amara.codes", service.show, module_code=MODULE, now=NOW)

    done = await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    assert done.teams == len(proposal.teams)
    report = await threads(course, proposal.set_id)
    assert report.opened == len(proposal.teams) and not report.problems
    assert all(private for _, _, private in course.chat.threads.values())
    tutor_id = course.user(TUTOR).platform_user_id
    for members in course.chat.members.values():
        assert tutor_id in members and len(members) >= 4
    texts = [m.text for _, m in course.chat.posts]
    assert all("<t:" in t and ":t>" in t and "Why this team" in t for t in texts)
    assert all(len(m.mention_user_ids) >= 3 for _, m in course.chat.posts)  # members notified
    again = await threads(course, proposal.set_id)
    assert again.opened == 0  # a retry opens only what is missing
    with pytest.raises(UserError, match="already created"):
        await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)

    shown = await course.act("amara.codes", service.show, module_code=MODULE, now=NOW)
    assert "Your team in MATH70097" in shown and "<t:" in shown and "<#7" in shown
    staff = await course.act(TUTOR, service.show, module_code=MODULE, now=NOW)
    assert staff.count("Team ") == len(proposal.teams)


async def test_a_student_who_overlaps_with_nobody_is_named(course: Course) -> None:
    await course.free("hsato_dev", "Tue 03:00-05:00", zone="UTC")
    with pytest.raises(UserError) as err:
        await course.form()
    assert err.value.sentence.startswith("No teams can be formed: Hiroshi Sato shares a block of 2")
    async with course.db.session() as s:
        assert (await s.execute(select(TeamSet))).first() is None


async def test_a_move_that_breaks_the_overlap_is_refused_and_a_good_one_made(
    course: Course,
) -> None:
    for name in STUDENTS[:6]:
        await course.free(name, "Mon 18:00-22:00", zone="UTC")
    for name in STUDENTS[6:]:
        await course.free(name, "Thu 08:00-12:00", zone="UTC")
    proposal = await course.form(size_min=2, size_max=6)  # room in every team
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    by_member = {m: t.number for t in proposal.teams for m in t.members}
    amara = course.people["amara.codes"].display_name
    kwame = course.people["kwamem"].display_name
    other = by_member[kwame]
    with pytest.raises(UserError) as err:
        await course.act(
            TUTOR,
            service.move,
            module_code=MODULE,
            student=course.user("amara.codes"),
            team_number=other,
            now=NOW,
        )
    assert err.value.sentence == (
        f"Cannot move {amara} to team {other}: the team would share only 0 hours in a row a "
        "week (at least 2 are needed)."
    )


async def test_a_move_that_keeps_every_rule_is_made(course: Course) -> None:
    proposal = await course.form()  # 11 students in teams of 3-4: one team has room
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    small = next(t for t in proposal.teams if len(t.members) == 3)
    big = next(t for t in proposal.teams if len(t.members) == 4)
    name = big.members[0]
    username = next(u for u, p in course.people.items() if p.display_name == name)
    moved = await course.act(
        TUTOR,
        service.move,
        module_code=MODULE,
        student=course.user(username),
        team_number=small.number,
        now=NOW,
    )
    assert moved.text.startswith(f"Moved {name} to team {small.number}")
    assert "<t:" in moved.thread_note
    staff = await course.act(TUTOR, service.show, module_code=MODULE, now=NOW)
    line = next(x for x in staff.splitlines() if x.startswith(f"Team {small.number}:"))
    assert name in line


async def test_reform_after_a_dropout_keeps_whole_teams(course: Course) -> None:
    proposal = await course.form()
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    leaver = course.people["amara.codes"]
    async with course.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        await s.execute(
            update(Enrolment)
            .where(Enrolment.person_id == leaver.id, Enrolment.module_id == module.id)
            .values(status=EnrolmentStatus.WITHDRAWN)
        )
    again = await course.act(TUTOR, service.reform, module_code=MODULE, now=NOW, time_limit=5.0)
    members = [m for t in again.teams for m in t.members]
    assert leaver.display_name not in members and len(members) == len(STUDENTS) - 1
    old = {frozenset(t.members) for t in proposal.teams}
    assert sum(1 for t in again.teams if frozenset(t.members) in old) >= again.kept - 1
    await threads(course, proposal.set_id)
    opened = len(course.chat.threads)
    await course.act(TUTOR, service.confirm, set_id=again.set_id, now=NOW)
    async with course.db.session() as s:
        statuses = [t.status for t in (await s.execute(select(TeamSet))).scalars()]
    assert sorted(statuses) == [TeamSetStatus.ACTIVE, TeamSetStatus.SUPERSEDED]
    report = await threads(course, again.set_id)
    assert report.reused >= again.kept >= 1  # whole teams keep their threads
    assert len(course.chat.threads) == opened + report.opened


async def withdraw(course: Course, name: str) -> None:
    person = next(p for p in course.people.values() if p.display_name == name)
    async with course.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        await s.execute(
            update(Enrolment)
            .where(Enrolment.person_id == person.id, Enrolment.module_id == module.id)
            .values(status=EnrolmentStatus.WITHDRAWN)
        )


async def test_reform_places_everyone_again_when_whole_teams_cannot_stay(course: Course) -> None:
    proposal = await course.form()  # 11 students in teams of 3-4: 4, 4 and 3
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    small = next(t for t in proposal.teams if len(t.members) == 3)
    await withdraw(course, small.members[0])  # two left over, and both other teams are full
    again = await course.act(TUTOR, service.reform, module_code=MODULE, now=NOW, time_limit=5.0)
    assert again.kept == 0
    assert sorted(len(t.members) for t in again.teams) == [3, 3, 4]


async def test_export_and_peer_groups_follow_the_active_teams(course: Course) -> None:
    proposal = await course.form()
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    exported = await course.act(TUTOR, service.export, module_code=MODULE)
    rows = list(csv.DictReader(io.StringIO(exported.data.decode())))
    assert len(rows) == len(STUDENTS)
    assert {r["team"] for r in rows} == {str(t.number) for t in proposal.teams}
    assert all(r["availability"].endswith("(default)") for r in rows)
    async with course.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        ids = [course.people[n].id for n in STUDENTS]
        groups = await kin_of(s, module, ids)
    first = proposal.teams[0].members
    first_ids = [p.id for p in course.people.values() if p.display_name in first]
    shared = set.intersection(*(set(groups[i]) for i in first_ids))
    assert any(g < 0 for g in shared)  # teammates are group-mates for peer allocation


async def test_a_name_a_spreadsheet_would_run_is_exported_as_text(course: Course) -> None:
    """Renaming a student to a formula changes that one cell, to text; nothing else moves."""
    proposal = await course.form()
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    plain = (await course.act(TUTOR, service.export, module_code=MODULE)).data.decode()
    link = '=HYPERLINK("https://evil.example","Open")'
    amara = course.people["amara.codes"]
    async with course.db.session() as s:
        await s.execute(update(Person).where(Person.id == amara.id).values(display_name=link))
    renamed = (await course.act(TUTOR, service.export, module_code=MODULE)).data.decode()
    before = list(csv.reader(io.StringIO(plain)))
    after = list(csv.reader(io.StringIO(renamed)))
    assert after == [["'" + link if c == amara.display_name else c for c in r] for r in before]
    assert sum(r.count("'" + link) for r in after) == 1
    assert renamed.replace(csv_quoted("'" + link), amara.display_name) == plain


def csv_quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


async def test_the_personal_data_export_holds_team_data_and_erasure_deletes_preferences(
    course: Course,
) -> None:
    from bot.gradebook import privacy
    from bot.teams import privacy as team_privacy

    await course.free("amara.codes", "Mon 19:00-23:00", zone="Europe/London")
    proposal = await course.form()
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    file = await course.act(
        "amara.codes", lambda s, caller, cohort: privacy.export_personal_data(s, caller, NOW)
    )
    data = json.loads(file.data)["project_teams"]
    assert data["availability"] == {"zone": "Europe/London", "weekly": "Mon 19:00–23:00"}
    mine = next(t for t in proposal.teams if course.people["amara.codes"].display_name in t.members)
    assert data["teams"] == [
        {"module": MODULE, "set": proposal.set_id, "status": "active", "team": mine.number}
    ]
    for other in mine.members:
        if other != course.people["amara.codes"].display_name:
            assert other not in file.data.decode()
    async with course.db.session() as s:
        await team_privacy.erase(s, course.people["amara.codes"].id)
    async with course.db.session() as s:
        after = await team_privacy.personal_data(s, course.people["amara.codes"].id)
    assert after["availability"] is None and after["teams"] == data["teams"]


async def test_previous_teammates_are_kept_apart_unless_the_tutor_allows_it(
    course: Course,
) -> None:
    first = await course.form(size_min=5, size_max=6)  # 11 students: teams of 5 and 6
    await course.act(TUTOR, service.confirm, set_id=first.set_id, now=NOW)
    with pytest.raises(UserError) as err:
        await course.form(size_min=5, size_max=6)  # two teams again: someone meets a teammate
    assert "previous teammates count as kept apart" in err.value.sentence
    again = await course.form(size_min=5, size_max=6, avoid_previous=False)
    assert len(again.teams) == 2


async def test_a_failed_team_message_is_posted_on_retry_in_the_same_thread(course: Course) -> None:
    proposal = await course.form()
    await course.act(TUTOR, service.confirm, set_id=proposal.set_id, now=NOW)
    course.chat.failing_posts = 1
    first = await threads(course, proposal.set_id)
    assert first.problems == [] and first.opened == len(proposal.teams)
    assert len(course.chat.posts) == len(proposal.teams) - 1  # one refused: retried later
    retry = await threads(course, proposal.set_id, NOW + timedelta(hours=1))
    assert retry.opened == 0  # every thread exists; the outbox posts the missing message
    assert len(course.chat.threads) == len(proposal.teams)  # no second thread for team 1
    assert len(course.chat.posts) == len(proposal.teams)
    assert len({channel for channel, _ in course.chat.posts}) == len(proposal.teams)

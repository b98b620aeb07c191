"""Loading the programme and importing the roster on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    Enrolment,
    EnrolmentStatus,
    GroupMembership,
    Module,
    Person,
    StudyGroup,
)
from bot.roster.service import (
    RosterError,
    import_roster,
    import_roster_in_batches,
    load_programme,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROGRAMME = (EXAMPLES / "mlds-2025.toml").read_text(encoding="utf-8")
ROSTER = (EXAMPLES / "roster-mlds-2025.csv").read_text(encoding="utf-8")
COHORT = "MLDS-2025"


async def canonical(db: Database) -> list[str]:
    """Every roster-related row as sorted text without surrogate ids, comparable across stores."""
    async with db.session() as s:
        lines = [
            f"cohort {c.code} | {c.name} | {c.timezone} | guild={c.guild_id}"
            for c in await s.scalars(select(Cohort))
        ]
        codes = {}
        for m in await s.scalars(select(Module)):
            codes[m.id] = m.code
            lines.append(
                f"module {m.code} | {m.title} | year {m.year} {m.term} | {m.ects:.2f} ECTS | "
                f"{m.designation.value} | pass_fail={m.pass_fail} | "
                f"weighted={m.in_weighted_average} | #{m.channel_name} {m.channel_id} | "
                f"note={m.note}"
            )
        groups = {g.id: g.name for g in await s.scalars(select(StudyGroup))}
        lines += [f"group {name}" for name in groups.values()]
        member_of: dict[int, list[str]] = defaultdict(list)
        for gm in await s.scalars(select(GroupMembership)):
            member_of[gm.person_id].append(groups[gm.group_id])
        enrolled: dict[int, list[str]] = defaultdict(list)
        for e in await s.scalars(select(Enrolment)):
            enrolled[e.person_id].append(f"{codes[e.module_id]}:{e.role.value}:{e.status.value}")
        for p in await s.scalars(select(Person)):
            lines.append(
                f"person {p.student_number} | {p.display_name} | {p.email} | "
                f"id={p.platform_user_id} | user={p.platform_username} | "
                f"groups={sorted(member_of[p.id])} | {' '.join(sorted(enrolled[p.id]))}"
            )
    return sorted(lines)


async def row_counts(db: Database) -> dict[str, int]:
    async with db.session() as s:
        return {
            model.__tablename__: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Cohort, Module, Person, Enrolment, StudyGroup, GroupMembership)
        }


async def load_examples(db: Database) -> None:
    async with db.session() as s:
        await load_programme(s, PROGRAMME)
    async with db.session() as s:
        await import_roster(s, COHORT, ROSTER)


async def enrolments_of(db: Database, student_number: str) -> dict[str, EnrolmentStatus]:
    async with db.session() as s:
        rows = await s.execute(
            select(Module.code, Enrolment.status)
            .join(Enrolment.module)
            .join(Enrolment.person)
            .where(Person.student_number == student_number)
        )
        return {code: status for code, status in rows.tuples()}


# --------------------------------------------------------------------------- programme


async def test_example_programme_creates_the_cohort_and_its_modules(db: Database) -> None:
    async with db.session() as s:
        report = await load_programme(s, PROGRAMME)

    assert (report.cohort_created, report.modules_created) == (True, 12)
    assert report.total_ects == 90
    assert report.summary() == (
        "Cohort MLDS-2025 created: 12 modules (12 created, 0 updated, 0 unchanged), "
        "90 ECTS in total."
    )
    async with db.session() as s:
        modules = {m.code: m for m in await s.scalars(select(Module))}
        cohort = await s.scalar(select(Cohort))
    assert cohort is not None and cohort.name.startswith("MSc Machine Learning and Data Science")
    assert len(modules) == 12
    assert sum(m.ects for m in modules.values()) == 90
    assert modules["MATH70094"].pass_fail is True
    assert modules["MATH70094"].in_weighted_average is False
    assert modules["MATH70098"].ects == 7.5


async def test_reloading_the_programme_changes_nothing(db: Database) -> None:
    async with db.session() as s:
        await load_programme(s, PROGRAMME)
    before = await canonical(db)

    async with db.session() as s:
        report = await load_programme(s, PROGRAMME)

    assert (report.cohort_created, report.cohort_updated) == (False, False)
    assert (report.modules_created, report.modules_updated, report.modules_unchanged) == (0, 0, 12)
    assert await canonical(db) == before


async def test_reloading_an_edited_programme_updates_in_place_and_deletes_nothing(
    db: Database,
) -> None:
    async with db.session() as s:
        await load_programme(s, PROGRAMME)
    edited = PROGRAMME.replace('title = "Deep Learning"', 'title = "Deep Learning II"')
    research = edited.index('code = "MATH70105"')
    edited = edited[: edited.rindex("[[modules]]", 0, research)].replace("total_ects = 90", "")

    async with db.session() as s:
        report = await load_programme(s, edited)

    assert (report.modules_created, report.modules_updated, report.modules_unchanged) == (0, 1, 10)
    assert report.modules_not_in_file == ("MATH70105",)
    assert "Kept 1 module not in the file" in report.summary()
    async with db.session() as s:
        titles = {m.code: m.title for m in await s.scalars(select(Module))}
    assert titles["MATH70101"] == "Deep Learning II"
    assert titles["MATH70105"] == "Research Project"


async def test_refused_programme_writes_nothing(db: Database) -> None:
    broken = PROGRAMME.replace("ects = 20", "ects = -20")
    line = PROGRAMME.splitlines().index("ects = 20") + 1
    async with db.session() as s:
        with pytest.raises(RosterError) as caught:
            await load_programme(s, broken)
    assert caught.value.errors == [
        f"line {line}, column 1: modules[11].ects: must be a positive number with at most "
        "2 decimals, got -20"
    ]
    assert await row_counts(db) == dict.fromkeys(
        ("cohorts", "modules", "persons", "enrolments", "study_groups", "group_memberships"), 0
    )


async def test_a_server_belongs_to_one_cohort(db: Database) -> None:
    guild = 'guild_id = "123456789012345678"\n'
    async with db.session() as s:
        await load_programme(s, PROGRAMME.replace("[cohort]\n", "[cohort]\n" + guild))
    other = PROGRAMME.replace('code = "MLDS-2025"', 'code = "MLDS-2026"')
    async with db.session() as s:
        with pytest.raises(RosterError) as caught:
            await load_programme(s, other.replace("[cohort]\n", "[cohort]\n" + guild))
    assert caught.value.errors == [
        "cohort.guild_id: server 123456789012345678 already belongs to cohort MLDS-2025"
    ]


# --------------------------------------------------------------------------- roster


async def test_roster_import_creates_people_enrolments_and_groups(db: Database) -> None:
    async with db.session() as s:
        await load_programme(s, PROGRAMME)
    async with db.session() as s:
        report = await import_roster(s, COHORT, ROSTER)

    # 2 + 3 tutor modules, 12 for the admin, 11 students x 7 + 1 student x 2
    assert (report.persons_created, report.enrolments_added, report.groups_created) == (15, 96, 4)
    assert report.summary() == (
        "Roster of MLDS-2025: 15 persons (15 created, 0 updated, 0 unchanged); "
        "enrolments: 96 added, 0 withdrawn.\n4 study groups created."
    )
    assert await row_counts(db) == {
        "cohorts": 1,
        "modules": 12,
        "persons": 15,
        "enrolments": 96,
        "study_groups": 4,
        "group_memberships": 12,
    }
    async with db.session() as s:
        admin = await s.scalar(select(Person).where(Person.display_name == "Priya Raman"))
        tutor = await s.scalar(select(Person).where(Person.platform_username == "tomaszz_stats"))
    assert admin is not None and admin.platform_user_id == "180000000000000001"
    assert admin.platform_username is None
    assert tutor is not None and tutor.student_number is None


async def test_reimporting_the_same_roster_changes_nothing(db: Database) -> None:
    await load_examples(db)
    before = await canonical(db)

    async with db.session() as s:
        report = await import_roster(s, COHORT, ROSTER)

    assert (report.persons_created, report.persons_updated, report.persons_unchanged) == (0, 0, 15)
    assert (report.enrolments_added, report.enrolments_withdrawn, report.groups_created) == (
        0,
        0,
        0,
    )
    assert await canonical(db) == before


async def test_reimport_updates_people_and_withdraws_instead_of_deleting(db: Database) -> None:
    await load_examples(db)
    lines = ROSTER.splitlines(keepends=True)
    edited = []
    for line in lines:
        if line.startswith("02510001,"):  # new email and group
            line = line.replace("amara.okafor@", "amara.o@").replace(",Bayes", ",Gauss")
        elif line.startswith("02510012,"):  # swaps one module for another
            line = line.replace("MATH70094;MATH70095", "MATH70094;MATH70096")
        elif line.startswith("02510002,"):  # leaves the programme
            continue
        elif line.startswith("02510007,"):  # gives the numeric id instead of the username
            line = line.replace(",kwamem,", ",200000000000000007,")
        elif "Priya Raman" in line:
            line = line.replace("Priya Raman", "Priya Raman-Shah")
        edited.append(line)
    edited.append("02510013,Nadia Haddad,,nadia.h,student,MATH70094;MATH70095,Turing\n")

    async with db.session() as s:
        report = await import_roster(s, COHORT, "".join(edited), sync=True)

    assert (report.persons_created, report.persons_updated, report.persons_unchanged) == (1, 4, 10)
    assert (report.enrolments_added, report.enrolments_withdrawn) == (1 + 2, 1 + 7)
    assert report.persons_absent == 1
    assert "1 person no longer on the roster" in report.summary()
    counts = await row_counts(db)
    assert (counts["persons"], counts["enrolments"]) == (16, 96 + 3)
    assert set((await enrolments_of(db, "02510002")).values()) == {EnrolmentStatus.WITHDRAWN}
    assert (await enrolments_of(db, "02510012")) == {
        "MATH70094": EnrolmentStatus.ACTIVE,
        "MATH70095": EnrolmentStatus.WITHDRAWN,
        "MATH70096": EnrolmentStatus.ACTIVE,
    }
    async with db.session() as s:
        kwame = await s.scalar(select(Person).where(Person.student_number == "02510007"))
        amara_groups = list(
            await s.scalars(
                select(StudyGroup.name)
                .join(GroupMembership, GroupMembership.group_id == StudyGroup.id)
                .join(Person, Person.id == GroupMembership.person_id)
                .where(Person.student_number == "02510001")
            )
        )
    assert kwame is not None
    assert (kwame.platform_user_id, kwame.platform_username) == ("200000000000000007", "kwamem")
    assert amara_groups == ["Gauss"]

    # the original file brings the leaver back: the same rows, reactivated
    async with db.session() as s:
        report = await import_roster(s, COHORT, ROSTER)
    assert report.persons_created == 0
    assert (await enrolments_of(db, "02510002")) == dict.fromkeys(
        (await enrolments_of(db, "02510001")).keys(), EnrolmentStatus.ACTIVE
    )
    assert (await row_counts(db))["persons"] == 16


LATE_JOINER = (
    "student_number,name,email,discord,role,modules,group\n"
    "02510013,Nadia Haddad,,nadia.h,student,MATH70094;MATH70095,Turing\n"
)


async def active_people(db: Database) -> int:
    async with db.session() as s:
        return int(
            await s.scalar(
                select(func.count(func.distinct(Enrolment.person_id))).where(
                    Enrolment.status == EnrolmentStatus.ACTIVE
                )
            )
            or 0
        )


async def test_a_file_of_late_joiners_adds_them_and_withdraws_nobody(db: Database) -> None:
    await load_examples(db)
    before = await canonical(db)

    async with db.session() as s:
        report = await import_roster(s, COHORT, LATE_JOINER)

    assert (report.persons_created, report.enrolments_added, report.enrolments_withdrawn) == (
        1,
        2,
        0,
    )
    assert report.persons_absent == 15
    assert "15 persons not in the file were kept (--sync withdraws them)" in report.summary()
    assert await active_people(db) == 16
    after = await canonical(db)
    assert [line for line in after if line not in before] == [
        "person 02510013 | Nadia Haddad | None | id=None | user=nadia.h | groups=['Turing'] | "
        "MATH70094:student:active MATH70095:student:active"
    ]


async def test_a_sync_dry_run_counts_what_the_sync_then_does_and_writes_nothing(
    db: Database,
) -> None:
    await load_examples(db)
    before = await canonical(db)

    async with db.session() as s:
        preview = await import_roster(s, COHORT, LATE_JOINER, sync=True, dry_run=True)
    assert await canonical(db) == before
    assert preview.summary().startswith(
        "Dry run, nothing was written. Roster of MLDS-2025: 1 person in the file; would add 1, "
        "change 0 and withdraw 15 (0 unchanged); enrolments: 2 to add, 96 to withdraw."
    )
    assert (preview.roster_size, preview.persons_absent) == (15, 15)
    assert preview.absent_staff == ("Dr Helen Marsh", "Dr Tomasz Zielinski", "Priya Raman")

    async with db.session() as s:
        done = await import_roster(s, COHORT, LATE_JOINER, sync=True)
    counts = ("persons_created", "persons_updated", "enrolments_added", "enrolments_withdrawn")
    assert [getattr(done, c) for c in counts] == [getattr(preview, c) for c in counts]
    assert await active_people(db) == 1


async def test_batched_import_gives_the_rows_of_one_transaction(db: Database) -> None:
    async with db.session() as s:
        await load_programme(s, PROGRAMME)
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    report = await import_roster_in_batches(db, COHORT, ROSTER, batch_size=4)
    assert report.persons_created == 15 and report.enrolments_added == 96
    # 15 people, 4 per transaction: the write lock is let go between batches
    assert len(commits) >= 4
    batched = await canonical(db)
    # an error on the last line refuses the whole file before the first batch is written
    bad = ROSTER + "02510099,Late,,late.one,student,MATH70069,\n"
    with pytest.raises(RosterError):
        await import_roster_in_batches(db, COHORT, bad, sync=True, batch_size=4)
    assert await canonical(db) == batched
    assert batched == EXPECTED_ROWS


async def test_malformed_roster_is_refused_whole_with_line_numbers(db: Database) -> None:
    await load_examples(db)
    before = await canonical(db)
    lines = ROSTER.splitlines(keepends=True)
    lines[6] = lines[6].replace(",student,", ",teacher,")  # line 7
    lines[8] = lines[8].replace("MATH70096", "MATH70069")  # line 9
    lines[9] = lines[9].replace("02510006", "02510001")  # line 10
    lines.append("02510099,New Person,,new.person,student,MATH70094,Bayes\n")  # fine on its own

    async with db.session() as s:
        with pytest.raises(RosterError) as caught:
            await import_roster(s, COHORT, "".join(lines))

    valid = (
        "MATH70094, MATH70095, MATH70096, MATH70097, MATH70098, MATH70099, MATH70100, "
        "MATH70101, MATH70102, MATH70103, MATH70104, MATH70105"
    )
    assert caught.value.errors == [
        "line 7, column role: 'teacher' is not one of student, tutor, admin",
        f"line 9, column modules: unknown module code 'MATH70069' (valid: {valid})",
        "line 10, column student_number: '02510001' is already on line 5",
    ]
    assert await canonical(db) == before


async def test_refused_roster_wrote_nothing_even_if_the_caller_commits(db: Database) -> None:
    await load_examples(db)
    before = await row_counts(db)
    # Amara leaves the file and a newcomer claims her stored Discord username
    lines = [line for line in ROSTER.splitlines(keepends=True) if "02510001" not in line]
    clash = "".join(lines) + "02510099,Someone Else,,amara.codes,student,MATH70094,\n"

    async with db.session() as s:  # the error is swallowed, so this transaction commits
        with pytest.raises(RosterError) as caught:
            await import_roster(s, COHORT, clash)

    assert caught.value.errors == [
        "line 16, column student_number: 'amara.codes' is Amara Okafor (02510001), "
        "whose student number is 02510001, not 02510099"
    ]
    assert await row_counts(db) == before


async def test_roster_for_an_unknown_cohort_is_refused(db: Database) -> None:
    async with db.session() as s:
        with pytest.raises(RosterError) as caught:
            await import_roster(s, COHORT, ROSTER)
    assert caught.value.errors == ["no cohort with code 'MLDS-2025' (load the programme first)"]


# --------------------------------------------------------------------------- both stores agree

# canonical(db) after loading both example files, computed once and checked in
EXPECTED_ROWS = """
cohort MLDS-2025 | MSc Machine Learning and Data Science, 2025-26 entry | Europe/London | guild=None
group Bayes
group Gauss
group Noether
group Turing
module MATH70094 | Programming for Data Science | year 1 Autumn | 5.00 ECTS | core | pass_fail=True | weighted=False | #programming-for-data-science None | note=Pass/fail: its mark is not included in the weighted average of the taught aspect.
module MATH70095 | Applicable Mathematics | year 1 Autumn | 5.00 ECTS | core | pass_fail=False | weighted=True | #applicable-maths None | note=None
module MATH70096 | Exploratory Data Analysis and Visualisation | year 1 Spring | 5.00 ECTS | compulsory | pass_fail=False | weighted=True | #eda-and-visualisation None | note=None
module MATH70097 | Supervised Learning | year 1 Spring | 7.50 ECTS | compulsory | pass_fail=False | weighted=True | #supervised-learning None | note=None
module MATH70098 | Ethical Machine Learning and Data Science (Part 1-2) | year 1 Spring | 7.50 ECTS | core | pass_fail=False | weighted=True | #ethical-ml None | note=One 7.5 ECTS module taught in two parts: Part 1 in Year 1 Spring (3.75 ECTS) and Part 2 in Year 2 Spring (3.75 ECTS).
module MATH70099 | Big Data: Statistical scalability with PySpark | year 2 Spring | 5.00 ECTS | compulsory | pass_fail=False | weighted=True | #big-data-pyspark None | note=None
module MATH70100 | Bayesian Methods and Computation | year 1 Summer | 7.50 ECTS | compulsory | pass_fail=False | weighted=True | #bayesian-methods None | note=None
module MATH70101 | Deep Learning | year 2 Spring | 7.50 ECTS | compulsory | pass_fail=False | weighted=True | #deep-learning None | note=None
module MATH70102 | Unsupervised Learning | year 1 Summer | 7.50 ECTS | compulsory | pass_fail=False | weighted=True | #unsupervised-learning None | note=None
module MATH70103 | Unstructured Data Analysis | year 2 Autumn | 7.50 ECTS | compulsory | pass_fail=False | weighted=True | #unstructured-data None | note=None
module MATH70104 | Learning Agents | year 2 Autumn | 5.00 ECTS | compulsory | pass_fail=False | weighted=True | #learning-agents None | note=None
module MATH70105 | Research Project | year 2 Summer | 20.00 ECTS | compulsory | pass_fail=False | weighted=True | #research-project None | note=None
person 02510001 | Amara Okafor | amara.okafor@students.example.org | id=None | user=amara.codes | groups=['Bayes'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510002 | Lukas Becker | lukas.becker@students.example.org | id=None | user=lukasb_92 | groups=['Bayes'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510003 | Mei Lin Tan | meilin.tan@students.example.org | id=None | user=meilin.tan | groups=['Bayes'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510004 | Diego Fernández | diego.fernandez@students.example.org | id=None | user=dfernandez.ml | groups=['Gauss'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510005 | Aisha Rahman | aisha.rahman@students.example.org | id=None | user=aisha_r | groups=['Gauss'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510006 | Zoë Hartmann | zoe.hartmann@students.example.org | id=None | user=zoe.hartmann | groups=['Gauss'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510007 | Kwame Mensah | kwame.mensah@students.example.org | id=None | user=kwamem | groups=['Noether'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510008 | Sofia Rossi | sofia.rossi@students.example.org | id=None | user=sofiarossi.data | groups=['Noether'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510009 | Hiroshi Sato | hiroshi.sato@students.example.org | id=None | user=hsato_dev | groups=['Noether'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510010 | Emily Clarke | emily.clarke@students.example.org | id=None | user=emclarke | groups=['Turing'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510011 | Rahul Iyer | rahul.iyer@students.example.org | id=None | user=rahul.iyer | groups=['Turing'] | MATH70094:student:active MATH70095:student:active MATH70096:student:active MATH70097:student:active MATH70098:student:active MATH70100:student:active MATH70102:student:active
person 02510012 | Olga Petrova | olga.petrova@students.example.org | id=None | user=olga_petrova | groups=['Turing'] | MATH70094:student:active MATH70095:student:active
person None | Dr Helen Marsh | h.marsh@staff.example.org | id=None | user=helen.marsh | groups=[] | MATH70094:tutor:active MATH70096:tutor:active
person None | Dr Tomasz Zielinski | t.zielinski@staff.example.org | id=None | user=tomaszz_stats | groups=[] | MATH70095:tutor:active MATH70097:tutor:active MATH70098:tutor:active
person None | Priya Raman | programme.office@staff.example.org | id=180000000000000001 | user=None | groups=[] | MATH70094:admin:active MATH70095:admin:active MATH70096:admin:active MATH70097:admin:active MATH70098:admin:active MATH70099:admin:active MATH70100:admin:active MATH70101:admin:active MATH70102:admin:active MATH70103:admin:active MATH70104:admin:active MATH70105:admin:active
""".strip().splitlines()  # noqa: E501


async def test_examples_give_the_same_rows_on_every_store(db: Database) -> None:
    await load_examples(db)
    assert await canonical(db) == EXPECTED_ROWS

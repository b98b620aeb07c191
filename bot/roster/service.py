"""Apply a parsed programme or roster to the database, all or nothing.

Every check (parsing, then conflicts with rows already stored) runs before the first write,
so a refused file leaves the database as it was even before the caller rolls back. Nothing
here commits: the caller's transaction decides. Nothing is deleted either: modules left out of
a programme stay, and enrolments left out of a roster become ``withdrawn``, because marks
records point at them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Cohort,
    Enrolment,
    EnrolmentStatus,
    GroupMembership,
    Module,
    Person,
    StudyGroup,
)
from bot.roster.parsing import (
    ModuleSpec,
    RosterEntry,
    RosterError,
    parse_programme,
    parse_roster,
)

__all__ = [
    "ProgrammeReport",
    "RosterError",
    "RosterReport",
    "import_roster",
    "load_programme",
]

_IN_CHUNK = 500  # keeps IN (...) lists well inside SQLite's bound-parameter limit
_T = TypeVar("_T")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class ProgrammeReport:
    cohort_code: str
    cohort_created: bool
    cohort_updated: bool
    modules_created: int
    modules_updated: int
    modules_unchanged: int
    total_ects: Decimal
    modules_not_in_file: tuple[str, ...] = ()

    def summary(self) -> str:
        state = (
            "created" if self.cohort_created else "updated" if self.cohort_updated else "unchanged"
        )
        total = self.modules_created + self.modules_updated + self.modules_unchanged
        line = (
            f"Cohort {self.cohort_code} {state}: {_plural(total, 'module')} "
            f"({self.modules_created} created, {self.modules_updated} updated, "
            f"{self.modules_unchanged} unchanged), {self.total_ects.normalize():f} ECTS in total."
        )
        if self.modules_not_in_file:
            line += (
                f"\nKept {_plural(len(self.modules_not_in_file), 'module')} not in the file "
                f"(modules are never deleted): {', '.join(self.modules_not_in_file)}."
            )
        return line


@dataclass(frozen=True)
class RosterReport:
    cohort_code: str
    persons_created: int
    persons_updated: int
    persons_unchanged: int
    enrolments_added: int
    enrolments_withdrawn: int
    groups_created: int = 0
    persons_absent: int = 0

    def summary(self) -> str:
        total = self.persons_created + self.persons_updated + self.persons_unchanged
        line = (
            f"Roster of {self.cohort_code}: {_plural(total, 'person')} "
            f"({self.persons_created} created, {self.persons_updated} updated, "
            f"{self.persons_unchanged} unchanged); enrolments: {self.enrolments_added} added, "
            f"{self.enrolments_withdrawn} withdrawn."
        )
        extra = []
        if self.groups_created:
            extra.append(f"{_plural(self.groups_created, 'study group')} created")
        if self.persons_absent:
            extra.append(
                f"{_plural(self.persons_absent, 'person')} no longer on the roster "
                "withdrawn from the cohort's modules"
            )
        if extra:
            line += "\n" + "; ".join(extra).capitalize() + "."
        return line


# --------------------------------------------------------------------------- programme


def _module_fields(spec: ModuleSpec) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "code": spec.code,
        "title": spec.title,
        "year": spec.year,
        "term": spec.term,
        "ects": spec.ects,
        "designation": spec.designation,
        "pass_fail": spec.pass_fail,
        "in_weighted_average": spec.in_weighted_average,
        "note": spec.note,
    }
    # channels the bot set up itself are kept unless the file names them
    if spec.channel is not None:
        fields["channel_name"] = spec.channel
    if spec.channel_id is not None:
        fields["channel_id"] = spec.channel_id
    return fields


def _apply(row: object, fields: dict[str, Any]) -> bool:
    """Set the fields that differ; True if any did (Decimal 7.5 equals 7.50)."""
    changed = False
    for name, value in fields.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


async def load_programme(session: AsyncSession, text: str) -> ProgrammeReport:
    """Create or update a cohort and its modules from a programme file (TOML)."""
    spec = parse_programme(text)
    c = spec.cohort
    cohort = await session.scalar(select(Cohort).where(Cohort.code == c.code))
    if c.guild_id is not None:
        owner = await session.scalar(
            select(Cohort.code).where(Cohort.guild_id == c.guild_id, Cohort.code != c.code)
        )
        if owner is not None:
            raise RosterError(
                [f"cohort.guild_id: server {c.guild_id} already belongs to cohort {owner}"]
            )

    cohort_fields: dict[str, Any] = {"name": c.name, "timezone": c.timezone}
    if c.guild_id is not None:
        cohort_fields["guild_id"] = c.guild_id
    cohort_created = cohort is None
    cohort_updated = False
    if cohort is None:
        cohort = Cohort(code=c.code, **cohort_fields)
        session.add(cohort)
        await session.flush()
        existing: dict[str, Module] = {}
    else:
        cohort_updated = _apply(cohort, cohort_fields)
        rows = await session.scalars(select(Module).where(Module.cohort_id == cohort.id))
        existing = {m.code.upper(): m for m in rows}

    created = updated = unchanged = 0
    for module_spec in spec.modules:
        fields = _module_fields(module_spec)
        module = existing.pop(module_spec.code.upper(), None)
        if module is None:
            session.add(Module(cohort_id=cohort.id, **fields))
            created += 1
        elif _apply(module, fields):
            updated += 1
        else:
            unchanged += 1
    await session.flush()
    return ProgrammeReport(
        cohort_code=cohort.code,
        cohort_created=cohort_created,
        cohort_updated=cohort_updated,
        modules_created=created,
        modules_updated=updated,
        modules_unchanged=unchanged,
        total_ects=spec.total_ects,
        modules_not_in_file=tuple(sorted(m.code for m in existing.values())),
    )


# --------------------------------------------------------------------------- roster


def _chunks(values: Iterable[_T]) -> list[list[_T]]:
    items = list(values)
    return [items[i : i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]


async def _persons_where(session: AsyncSession, column: Any, values: Iterable[str]) -> list[Person]:
    found: list[Person] = []
    for chunk in _chunks(set(values)):
        condition: ColumnElement[bool] = column.in_(chunk)
        found.extend(await session.scalars(select(Person).where(condition)))
    return found


def _describe(person: Person) -> str:
    ident = person.student_number or person.platform_username or person.platform_user_id
    return f"{person.display_name} ({ident})" if ident else person.display_name


async def _match_persons(
    session: AsyncSession, entries: Sequence[RosterEntry]
) -> dict[int, Person | None]:
    """Find who each row already is: by student number, then Discord id, then username.

    Raises ``RosterError`` when a row would take an identifier that belongs to someone else,
    or two rows would be the same stored person: applying either would merge two people.
    """
    numbers = [e.student_number for e in entries if e.student_number]
    ids = [e.discord.user_id for e in entries if e.discord and e.discord.user_id]
    names = [e.discord.username for e in entries if e.discord and e.discord.username]
    by_number = {
        p.student_number: p for p in await _persons_where(session, Person.student_number, numbers)
    }
    by_id = {
        p.platform_user_id: p for p in await _persons_where(session, Person.platform_user_id, ids)
    }
    by_name: dict[str, list[Person]] = defaultdict(list)
    for p in await _persons_where(session, Person.platform_username, names):
        assert p.platform_username is not None
        by_name[p.platform_username].append(p)

    errors: list[str] = []
    matched: dict[int, Person | None] = {}
    claimed: dict[int, int] = {}  # person id -> the line that matched it
    for e in entries:
        owners: list[Person] = []
        if e.discord is not None and e.discord.user_id is not None:
            owner = by_id.get(e.discord.user_id)
            owners = [owner] if owner is not None else []
        elif e.discord is not None and e.discord.username is not None:
            owners = by_name.get(e.discord.username, [])
        person = by_number.get(e.student_number) if e.student_number else None
        if person is not None:
            others = [o for o in owners if o.id != person.id]
            if others:
                errors.append(
                    f"line {e.line}, column discord: {str(e.discord)!r} belongs to "
                    f"{_describe(others[0])}, but student number {e.student_number} is "
                    f"{_describe(person)}"
                )
                continue
        elif len(owners) > 1:
            errors.append(
                f"line {e.line}, column discord: {len(owners)} stored people share the username "
                f"{str(e.discord)!r}; give the numeric Discord id instead"
            )
            continue
        elif owners:
            person = owners[0]
            if e.student_number and person.student_number:
                errors.append(
                    f"line {e.line}, column student_number: {str(e.discord)!r} is "
                    f"{_describe(person)}, whose student number is {person.student_number}, "
                    f"not {e.student_number}"
                )
                continue
        if person is not None:
            first = claimed.setdefault(person.id, e.line)
            if first != e.line:
                errors.append(
                    f"line {e.line}: is the same person as line {first} ({_describe(person)})"
                )
                continue
        matched[e.line] = person
    if errors:
        raise RosterError(errors)
    return matched


async def import_roster(session: AsyncSession, cohort_code: str, text: str) -> RosterReport:
    """Enrol the people of a roster file (CSV) in a cohort's modules; re-imports update.

    The file is the whole roster: people left out keep their records but their enrolments in
    this cohort's modules are withdrawn.
    """
    cohort = await session.scalar(select(Cohort).where(Cohort.code == cohort_code))
    if cohort is None:
        known = list(await session.scalars(select(Cohort.code).order_by(Cohort.code)))
        hint = f" (known: {', '.join(known)})" if known else " (load the programme first)"
        raise RosterError([f"no cohort with code {cohort_code!r}{hint}"])
    modules = {
        m.code: m
        for m in await session.scalars(select(Module).where(Module.cohort_id == cohort.id))
    }
    if not modules:
        raise RosterError([f"cohort {cohort_code} has no modules: load the programme first"])
    roster = parse_roster(text, modules)
    matched = await _match_persons(session, roster.entries)

    # ---- everything is checked: from here on, only writes
    groups = {
        g.name.casefold(): g
        for g in await session.scalars(select(StudyGroup).where(StudyGroup.cohort_id == cohort.id))
    }
    groups_created = 0
    for e in roster.entries:
        if e.group is not None and e.group.casefold() not in groups:
            group = StudyGroup(cohort_id=cohort.id, name=e.group)
            session.add(group)
            groups[e.group.casefold()] = group
            groups_created += 1

    persons: dict[int, Person] = {}
    changed: set[int] = set()  # lines whose stored person changed
    created = 0
    for e in roster.entries:
        fields: dict[str, Any] = {"display_name": e.name, "email": e.email}
        if e.student_number:
            fields["student_number"] = e.student_number
        if e.discord and e.discord.user_id:
            fields["platform_user_id"] = e.discord.user_id
        if e.discord and e.discord.username:
            fields["platform_username"] = e.discord.username
        person = matched[e.line]
        if person is None:
            person = Person(**fields)
            session.add(person)
            created += 1
        elif _apply(person, fields):
            changed.add(e.line)
        persons[e.line] = person
    await session.flush()

    module_ids = [m.id for m in modules.values()]
    enrolments: dict[int, dict[int, Enrolment]] = defaultdict(dict)  # person -> module -> row
    for chunk in _chunks(module_ids):
        for loaded in await session.scalars(
            select(Enrolment).where(Enrolment.module_id.in_(chunk))
        ):
            enrolments[loaded.person_id][loaded.module_id] = loaded
    group_ids = [g.id for g in groups.values()]
    memberships: dict[int, list[GroupMembership]] = defaultdict(list)
    for chunk in _chunks(group_ids):
        for membership in await session.scalars(
            select(GroupMembership).where(GroupMembership.group_id.in_(chunk))
        ):
            memberships[membership.person_id].append(membership)

    # new link rows go in as one executemany each: a first import is mostly these
    new_enrolments: list[dict[str, Any]] = []
    new_memberships: list[dict[str, Any]] = []
    added = withdrawn = 0
    listed: set[int] = set()
    for e in roster.entries:
        person = persons[e.line]
        listed.add(person.id)
        wanted = {modules[code].id for code in e.modules}
        held = enrolments.get(person.id, {})
        for module_id in wanted:
            enrolment = held.get(module_id)
            if enrolment is None:
                new_enrolments.append(
                    {
                        "module_id": module_id,
                        "person_id": person.id,
                        "role": e.role,
                        "status": EnrolmentStatus.ACTIVE,
                    }
                )
                added += 1
                changed.add(e.line)
                continue
            if enrolment.status != EnrolmentStatus.ACTIVE:
                enrolment.status = EnrolmentStatus.ACTIVE
                added += 1
                changed.add(e.line)
            if enrolment.role != e.role:
                enrolment.role = e.role
                changed.add(e.line)
        for module_id, enrolment in held.items():
            if module_id not in wanted and enrolment.status == EnrolmentStatus.ACTIVE:
                enrolment.status = EnrolmentStatus.WITHDRAWN
                withdrawn += 1
                changed.add(e.line)

        target = groups[e.group.casefold()] if e.group is not None else None
        current = memberships.get(person.id, [])
        for membership in current:
            if target is None or membership.group_id != target.id:
                await session.delete(membership)
                changed.add(e.line)
        if target is not None and all(m.group_id != target.id for m in current):
            new_memberships.append({"group_id": target.id, "person_id": person.id})
            changed.add(e.line)

    absent: set[int] = set()
    for person_id, held in enrolments.items():
        if person_id in listed:
            continue
        for enrolment in held.values():
            if enrolment.status == EnrolmentStatus.ACTIVE:
                enrolment.status = EnrolmentStatus.WITHDRAWN
                withdrawn += 1
                absent.add(person_id)
    await session.flush()
    if new_enrolments:
        await session.execute(insert(Enrolment), new_enrolments)
    if new_memberships:
        await session.execute(insert(GroupMembership), new_memberships)

    existing_changed = {line for line in changed if matched[line] is not None}
    existing_total = sum(1 for p in matched.values() if p is not None)
    return RosterReport(
        cohort_code=cohort.code,
        persons_created=created,
        persons_updated=len(existing_changed),
        persons_unchanged=existing_total - len(existing_changed),
        enrolments_added=added,
        enrolments_withdrawn=withdrawn,
        groups_created=groups_created,
        persons_absent=len(absent),
    )

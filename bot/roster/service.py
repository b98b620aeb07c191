"""Apply a parsed programme or roster to the database.

Every check (parsing, then conflicts with rows already stored) runs before the first write,
so a refused file leaves the database as it was even before the caller rolls back. Nothing
is deleted: modules left out of a programme stay, and a roster import adds and updates only;
enrolments of people left out of a roster become ``withdrawn`` only when a sync is asked
for, because marks records point at them. ``import_roster`` works in the caller's
transaction; ``import_roster_in_batches`` writes a large file in short transactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypedDict, TypeVar, Unpack

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    Enrolment,
    EnrolmentStatus,
    GroupMembership,
    Module,
    Person,
    Role,
    StudyGroup,
)
from bot.db.types import utcnow
from bot.insights.service import save_thresholds
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
    "import_roster_in_batches",
    "load_programme",
]

_IN_CHUNK = 500  # keeps IN (...) lists well inside SQLite's bound-parameter limit
_T = TypeVar("_T")
IMPORT_BATCH = 500  # people per write transaction: a live bot waits milliseconds, not minutes


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
    """What an import did (or, for a dry run, would do); counts are of people and enrolments."""

    cohort_code: str
    persons_created: int
    persons_updated: int
    persons_unchanged: int
    enrolments_added: int
    enrolments_withdrawn: int
    groups_created: int = 0
    # people with active enrolments in the cohort who are not in the file
    persons_absent: int = 0
    # ... of whom tutors or admins (names), so a sync can ask before withdrawing them
    absent_staff: tuple[str, ...] = ()
    # people with an active enrolment in the cohort before the import (the share's base)
    roster_size: int = 0
    sync: bool = False
    dry_run: bool = False

    @property
    def absent_share(self) -> float:
        """Fraction of the current roster a sync withdraws (0 when the roster was empty)."""
        return self.persons_absent / self.roster_size if self.roster_size else 0.0

    def summary(self) -> str:
        total = self.persons_created + self.persons_updated + self.persons_unchanged
        if self.dry_run:
            withdrawn = self.persons_absent if self.sync else 0
            line = (
                f"Dry run, nothing was written. Roster of {self.cohort_code}: "
                f"{_plural(total, 'person')} in the file; would add {self.persons_created}, "
                f"change {self.persons_updated} and withdraw {withdrawn} "
                f"({self.persons_unchanged} unchanged); enrolments: {self.enrolments_added} "
                f"to add, {self.enrolments_withdrawn} to withdraw."
            )
        else:
            line = (
                f"Roster of {self.cohort_code}: {_plural(total, 'person')} "
                f"({self.persons_created} created, {self.persons_updated} updated, "
                f"{self.persons_unchanged} unchanged); enrolments: {self.enrolments_added} "
                f"added, {self.enrolments_withdrawn} withdrawn."
            )
        verb = "would be" if self.dry_run else ""
        extra = []
        if self.groups_created:
            extra.append(f"{_plural(self.groups_created, 'study group')} {verb or ''} created")
        if self.persons_absent and self.sync:
            extra.append(
                f"{_plural(self.persons_absent, 'person')} no longer on the roster "
                f"{verb or ''} withdrawn from the cohort's modules"
            )
        elif self.persons_absent:
            kept = "would be" if self.dry_run else "was" if self.persons_absent == 1 else "were"
            extra.append(
                f"{_plural(self.persons_absent, 'person')} not in the file {kept} kept "
                "(--sync withdraws them)"
            )
        if extra:
            text = "; ".join(" ".join(part.split()) for part in extra)
            line += "\n" + text[0].upper() + text[1:] + "."
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
    await save_thresholds(session, cohort.id, spec.early_warning, utcnow())
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


async def _persons_where(session: AsyncSession, column: Any, values: Iterable[Any]) -> list[Person]:
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


def _differs(row: object, fields: dict[str, Any]) -> bool:
    return any(getattr(row, name) != value for name, value in fields.items())


_IDENTIFIERS = ("student_number", "platform_user_id", "platform_username")


def _person_fields(e: RosterEntry) -> dict[str, Any]:
    fields: dict[str, Any] = {"display_name": e.name, "email": e.email}
    if e.student_number:
        fields["student_number"] = e.student_number
    if e.discord and e.discord.user_id:
        fields["platform_user_id"] = e.discord.user_id
    if e.discord and e.discord.username:
        fields["platform_username"] = e.discord.username
    return fields


SessionSource = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass
class _Import:
    """One roster import: the cohort, whether it writes, and the counts so far."""

    cohort: Cohort
    modules: dict[str, Module]
    write: bool
    created: int = 0
    existing: int = 0
    updated: int = 0
    added: int = 0
    withdrawn: int = 0
    groups_created: int = 0
    new_groups: set[str] = field(default_factory=set)  # dry run: names that would be created
    listed: set[int] = field(default_factory=set)  # stored people named by the file

    async def batch(self, session: AsyncSession, entries: Sequence[RosterEntry]) -> None:
        """Apply (or, for a dry run, count) one batch of rows in the caller's transaction."""
        matched = await _match_persons(session, entries)
        groups = {
            g.name.casefold(): g
            for g in await session.scalars(
                select(StudyGroup).where(StudyGroup.cohort_id == self.cohort.id)
            )
        }
        for e in entries:
            if e.group is None or e.group.casefold() in groups:
                continue
            if self.write:
                group = StudyGroup(cohort_id=self.cohort.id, name=e.group)
                session.add(group)
                groups[e.group.casefold()] = group
                self.groups_created += 1
            elif e.group.casefold() not in self.new_groups:
                self.new_groups.add(e.group.casefold())
                self.groups_created += 1

        ids: dict[int, int | None] = {}  # line -> stored person's id (None: new in a dry run)
        changed: set[int] = set()  # lines whose stored person changed
        new_rows: list[tuple[int, dict[str, Any]]] = []
        for e in entries:
            fields = _person_fields(e)
            person = matched[e.line]
            ids[e.line] = None if person is None else person.id
            if person is None:
                self.created += 1
                new_rows.append((e.line, dict.fromkeys(_IDENTIFIERS) | fields))
            else:
                self.existing += 1
                if _differs(person, fields):
                    changed.add(e.line)
                    if self.write:
                        _apply(person, fields)
        if self.write:
            await session.flush()
            if new_rows:
                # one executemany, ids back in row order (the ORM would insert one by one)
                created = await session.scalars(
                    insert(Person).returning(Person.id, sort_by_parameter_order=True),
                    [row for _, row in new_rows],
                )
                for (line, _), new_id in zip(new_rows, created, strict=True):
                    ids[line] = new_id

        person_ids = [i for i in ids.values() if i is not None]
        self.listed.update(person_ids)
        module_ids = [m.id for m in self.modules.values()]
        enrolments: dict[int, dict[int, Enrolment]] = defaultdict(dict)  # person -> module -> row
        for chunk in _chunks(person_ids):
            for loaded in await session.scalars(
                select(Enrolment).where(
                    Enrolment.person_id.in_(chunk), Enrolment.module_id.in_(module_ids)
                )
            ):
                enrolments[loaded.person_id][loaded.module_id] = loaded
        group_ids = [g.id for g in groups.values()]
        memberships: dict[int, list[GroupMembership]] = defaultdict(list)
        for chunk in _chunks(person_ids):
            for membership in await session.scalars(
                select(GroupMembership).where(
                    GroupMembership.person_id.in_(chunk), GroupMembership.group_id.in_(group_ids)
                )
            ):
                memberships[membership.person_id].append(membership)

        # new link rows go in as one executemany each: a first import is mostly these
        new_enrolments: list[dict[str, Any]] = []
        new_memberships: list[dict[str, Any]] = []
        for e in entries:
            person_id = ids[e.line]
            wanted = {self.modules[code].id for code in e.modules}
            held = enrolments.get(person_id, {}) if person_id is not None else {}
            for module_id in wanted:
                enrolment = held.get(module_id)
                if enrolment is None:
                    if person_id is not None:
                        new_enrolments.append(
                            {
                                "module_id": module_id,
                                "person_id": person_id,
                                "role": e.role,
                                "status": EnrolmentStatus.ACTIVE,
                            }
                        )
                    self.added += 1
                    changed.add(e.line)
                    continue
                if enrolment.status != EnrolmentStatus.ACTIVE:
                    if self.write:
                        enrolment.status = EnrolmentStatus.ACTIVE
                    self.added += 1
                    changed.add(e.line)
                if enrolment.role != e.role:
                    if self.write:
                        enrolment.role = e.role
                    changed.add(e.line)
            # the row names this person's modules: the ones it leaves out are dropped
            for module_id, enrolment in held.items():
                if module_id not in wanted and enrolment.status == EnrolmentStatus.ACTIVE:
                    if self.write:
                        enrolment.status = EnrolmentStatus.WITHDRAWN
                    self.withdrawn += 1
                    changed.add(e.line)

            target = groups.get(e.group.casefold()) if e.group is not None else None
            current = memberships.get(person_id, []) if person_id is not None else []
            for membership in current:
                if target is None or membership.group_id != target.id:
                    if self.write:
                        await session.delete(membership)
                    changed.add(e.line)
            if e.group is not None and all(
                target is None or m.group_id != target.id for m in current
            ):
                if self.write and person_id is not None and target is not None:
                    new_memberships.append({"group_id": target.id, "person_id": person_id})
                changed.add(e.line)
        self.updated += len({line for line in changed if matched[line] is not None})
        if self.write:
            await session.flush()
            if new_enrolments:
                await session.execute(insert(Enrolment), new_enrolments)
            if new_memberships:
                await session.execute(insert(GroupMembership), new_memberships)


async def _absent(
    session: AsyncSession, modules: Iterable[Module], listed: set[int]
) -> tuple[int, list[int], list[int], list[str]]:
    """The current roster's size, and the active enrolments, people and staff names the file
    leaves out (staff: anyone enrolled as tutor or admin)."""
    module_ids = [m.id for m in modules]
    people: set[int] = set()
    enrolment_ids: list[int] = []
    absent: set[int] = set()
    staff: set[int] = set()
    for chunk in _chunks(module_ids):
        rows = await session.execute(
            select(Enrolment.id, Enrolment.person_id, Enrolment.role).where(
                Enrolment.module_id.in_(chunk), Enrolment.status == EnrolmentStatus.ACTIVE
            )
        )
        for enrolment_id, person_id, role in rows.tuples():
            people.add(person_id)
            if person_id in listed:
                continue
            enrolment_ids.append(enrolment_id)
            absent.add(person_id)
            if role in (Role.TUTOR, Role.ADMIN):
                staff.add(person_id)
    names = sorted(p.display_name for p in await _persons_where(session, Person.id, staff))
    return len(people), enrolment_ids, sorted(absent), names


class ImportOptions(TypedDict, total=False):
    """How an import treats the file; both entry points take them and pass them on."""

    #: withdraw the enrolments of people the file leaves out (their records stay: marks point
    #: at them); without it they keep their enrolments
    sync: bool
    #: write nothing and report what the import would do
    dry_run: bool


async def _run_import(
    sessions: SessionSource,
    cohort_code: str,
    source: str | Iterable[str],
    batch_size: int,
    **options: Unpack[ImportOptions],
) -> RosterReport:
    sync, dry_run = options.get("sync", False), options.get("dry_run", False)
    async with sessions() as session:
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
        roster = parse_roster(source, modules)
        # every check over the whole file before the first write: a refused file writes nothing
        await _match_persons(session, roster.entries)
        before = await _absent(session, modules.values(), set())

    job = _Import(cohort=cohort, modules=modules, write=not dry_run)
    for start in range(0, len(roster.entries), batch_size):
        async with sessions() as session:
            await job.batch(session, roster.entries[start : start + batch_size])
    async with sessions() as session:
        _, enrolment_ids, absent, staff = await _absent(session, modules.values(), job.listed)
    if sync:
        job.withdrawn += len(enrolment_ids)
        if not dry_run:
            for chunk in _chunks(enrolment_ids):
                async with sessions() as session:
                    await session.execute(
                        update(Enrolment)
                        .where(Enrolment.id.in_(chunk))
                        .values(status=EnrolmentStatus.WITHDRAWN)
                    )
    return RosterReport(
        cohort_code=cohort.code,
        persons_created=job.created,
        persons_updated=job.updated,
        persons_unchanged=job.existing - job.updated,
        enrolments_added=job.added,
        enrolments_withdrawn=job.withdrawn,
        groups_created=job.groups_created,
        persons_absent=len(absent),
        absent_staff=tuple(staff),
        roster_size=before[0],
        sync=sync,
        dry_run=dry_run,
    )


async def import_roster(
    session: AsyncSession,
    cohort_code: str,
    source: str | Iterable[str],
    **options: Unpack[ImportOptions],
) -> RosterReport:
    """Enrol the people of a roster file (CSV) in a cohort's modules, in the caller's
    transaction; re-imports update (``ImportOptions``: ``sync``, ``dry_run``)."""

    @asynccontextmanager
    async def same() -> AsyncIterator[AsyncSession]:
        yield session

    return await _run_import(same, cohort_code, source, IMPORT_BATCH, **options)


async def import_roster_in_batches(
    db: Database,
    cohort_code: str,
    source: str | Iterable[str],
    *,
    batch_size: int = IMPORT_BATCH,
    **options: Unpack[ImportOptions],
) -> RosterReport:
    """The same import, checked whole first, then written ``batch_size`` people per
    transaction so a live bot on the same SQLite file waits milliseconds, not minutes.

    If interrupted while writing, the batches already committed stay; running the same
    import again completes it (imports are idempotent).
    """
    return await _run_import(db.session, cohort_code, source, batch_size, **options)

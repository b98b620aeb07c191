"""Teams service, part two: forming (dry run, then confirm), showing, moving a student,
re-forming after a dropout, pair rules and the CSV export.

The solver (``formation``) is pure and CPU-bound for up to its time limit, so it runs in a worker
thread; everything it needs is read first and everything it proposes is written after, in the
command's one transaction. A dry run is stored as a *proposed* set, so what the tutor confirms
is exactly what they saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.access.permissions import Caller, module_by_code, require_staff
from bot.csv_output import csv_text
from bot.db.models import (
    Cohort,
    Module,
    PairRule,
    Person,
    Team,
    TeamMember,
    TeamPair,
    TeamSet,
    TeamSetStatus,
)
from bot.errors import NotFound, UserError
from bot.teams import availability as av
from bot.teams import formation as F
from bot.teams import reads as R
from bot.teams import render

MAX_SIZE = 12
MAX_HOURS = 40
DEFAULT_TIME_LIMIT = 8.0
MAX_NAMED = 10


def _pair(a: int, b: int) -> tuple[int, int]:
    return (min(a, b), max(a, b))


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class TeamView:
    number: int
    members: tuple[str, ...]
    shared_hours: float
    longest_hours: float
    balance: int
    thread_id: str | None = None


@dataclass(frozen=True)
class Proposal:
    set_id: int
    module_code: str
    size_min: int
    size_max: int
    min_hours: float
    teams: tuple[TeamView, ...]
    optimal: bool
    seconds: float
    kept: int = 0

    def render(self) -> str:
        worst_h = min((t.longest_hours for t in self.teams), default=0.0)
        worst_b = min((t.balance for t in self.teams), default=0)
        size = sum(len(t.members) for t in self.teams)
        how = "the best possible" if self.optimal else f"the best found in {self.seconds:.1f} s"
        lines = [
            f"**Proposed teams for {self.module_code}** (dry run #{self.set_id}: nothing is "
            "created until you confirm)",
            f"{size} students in {len(self.teams)} teams of {self.size_min}–{self.size_max}; "
            f"every team shares at least {self.min_hours:g} hours in a row each week, all term.",
            f"Least shared block: {worst_h:g} h. Least varied team: {worst_b} different survey "
            f"answers ({how}).",
        ]
        if self.kept:
            lines.append(f"{self.kept} team(s) are kept as they were.")
        for t in self.teams:
            lines.append(
                f"Team {t.number}: {', '.join(t.members)} — {t.shared_hours:g} h a week "
                f"shared (longest block {t.longest_hours:g} h), {t.balance} answers"
            )
        return "\n".join(lines)


def _views(pairs: Sequence[tuple[Team, list[Person]]]) -> tuple[TeamView, ...]:
    out = []
    for team, members in pairs:
        mask = R.mask_of(team)
        out.append(
            TeamView(
                team.number,
                tuple(p.display_name for p in members),
                av.hours(mask),
                av.longest_run(mask) / av.SLOTS_PER_HOUR,
                team.balance,
                team.thread_id,
            )
        )
    return tuple(out)


def _refusal_sentence(refusal: F.Refusal, names: dict[int, str], min_hours: float) -> str:
    if not refusal.unplaceable:
        return refusal.reason
    items = sorted(refusal.unplaceable.items(), key=lambda kv: names.get(kv[0], ""))
    text = "; ".join(f"{names.get(pid, '?')} {why}" for pid, why in items[:MAX_NAMED])
    if len(items) > MAX_NAMED:
        text += f"; and {len(items) - MAX_NAMED} more"
    return (
        f"No teams can be formed: {text}. Ask them to widen their availability "
        f"(/calendar availability), or ask for fewer than {min_hours:g} shared hours."
    )


# --------------------------------------------------------------------------- forming


def _check_rules(size_min: int, size_max: int, min_hours: float) -> None:
    if not 1 <= size_min <= size_max <= MAX_SIZE:
        raise UserError(f"Team sizes must satisfy 1 ≤ size_min ≤ size_max ≤ {MAX_SIZE}.")
    if not 0 <= min_hours <= MAX_HOURS or (min_hours * 2) % 1:
        raise UserError(f"min_hours must be between 0 and {MAX_HOURS}, in half hours.")


async def _solve(
    session: AsyncSession,
    cohort: Cohort,
    module: Module,
    req: F.Request,
    now: datetime,
) -> tuple[F.Formation, list[Person]]:
    people = await R.module_students(session, module)
    if len(people) < req.size_min:
        raise UserError(
            f"{module.code} has {len(people)} active student(s); a team needs {req.size_min}."
        )
    students = await R.solver_students(session, cohort, module, people, R.weeks_from(now))
    result = await asyncio.to_thread(F.form, students, req)
    if isinstance(result, F.Refusal):
        names = {p.id: p.display_name for p in people}
        raise UserError(_refusal_sentence(result, names, req.min_hours))
    return result, people


async def _store(
    session: AsyncSession,
    caller: Caller,
    module: Module,
    req: F.Request,
    result: F.Formation,
    now: datetime,
) -> TeamSet:
    """The proposal as a ``proposed`` set; older unconfirmed proposals are discarded."""
    await session.execute(
        update(TeamSet)
        .where(TeamSet.module_id == module.id, TeamSet.status == TeamSetStatus.PROPOSED)
        .values(status=TeamSetStatus.DISCARDED)
    )
    team_set = TeamSet(
        module_id=module.id,
        status=TeamSetStatus.PROPOSED,
        size_min=req.size_min,
        size_max=req.size_max,
        min_minutes=req.need_slots * av.SLOT_MINUTES,
        reference_week=R.monday_utc(R.weeks_from(now)[0]),
        weeks=R.TERM_WEEKS,
        optimal=result.optimal,
        created_by_id=caller.person.id,
        created_at=now,
    )
    session.add(team_set)
    await session.flush()
    for number, team in enumerate(result.teams, 1):
        row = Team(
            set_id=team_set.id, number=number, shared=R.hex_mask(team.shared), balance=team.balance
        )
        session.add(row)
        await session.flush()
        session.add_all(
            TeamMember(team_id=row.id, person_id=pid, set_id=team_set.id) for pid in team.members
        )
    await session.flush()
    return team_set


async def _proposal(
    session: AsyncSession, module: Module, team_set: TeamSet, result: F.Formation, kept: int = 0
) -> Proposal:
    return Proposal(
        set_id=team_set.id,
        module_code=module.code,
        size_min=team_set.size_min,
        size_max=team_set.size_max,
        min_hours=team_set.min_minutes / 60,
        teams=_views(await R.teams_of(session, team_set)),
        optimal=result.optimal,
        seconds=result.seconds,
        kept=kept,
    )


async def form(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    size_min: int,
    size_max: int,
    min_hours: float,
    now: datetime,
    time_limit: float = DEFAULT_TIME_LIMIT,
    avoid_previous: bool = True,
) -> Proposal:
    """Propose teams for a module's active students (stored as a dry run to confirm).

    Hard rules: ``min_hours`` in a row shared by every team each week of the term, sizes in
    range, tutor pairs, and (``avoid_previous``) previous teammates from any confirmed team in
    the cohort kept apart unless a tutor put them together. Refused in one sentence naming
    who cannot be placed.
    """
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    _check_rules(size_min, size_max, min_hours)
    rules = await R.pair_rules(session, module)
    together = rules[PairRule.TOGETHER]
    previous = await R.previous_teammates(session, cohort) if avoid_previous else set()
    apart = (rules[PairRule.APART] | previous) - together
    req = F.Request(
        size_min, size_max, min_hours, frozenset(apart), frozenset(together), time_limit
    )
    try:
        result, _ = await _solve(session, cohort, module, req, now)
    except UserError as exc:
        if previous and "kept-apart" in exc.sentence:
            raise UserError(
                exc.sentence.removesuffix(".") + " (previous teammates count as kept apart; "
                "form with avoid_previous:False to allow them together again)."
            ) from exc
        raise
    team_set = await _store(session, caller, module, req, result, now)
    return await _proposal(session, module, team_set, result)


async def reform(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    now: datetime,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> Proposal:
    """After a dropout: students who left are taken out, teams still big enough stay together,
    members of teams now too small (and anyone new) are placed again; a dry run to confirm."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    current = await R.require_active(session, module)
    active = {p.id for p in await R.module_students(session, module)}
    together: set[tuple[int, int]] = set()
    kept = 0
    for _, members in await R.teams_of(session, current):
        staying = sorted(p.id for p in members if p.id in active)
        if len(staying) >= current.size_min:
            kept += 1
            together.update(_pair(a, b) for a, b in pairwise(staying))
    rules = await R.pair_rules(session, module)
    together |= rules[PairRule.TOGETHER]
    previous = await R.previous_teammates(session, cohort, except_set=current.id)
    apart = (rules[PairRule.APART] | previous) - together
    req = F.Request(
        current.size_min,
        current.size_max,
        current.min_minutes / 60,
        frozenset(apart),
        frozenset(together),
        time_limit,
    )
    try:
        result, _ = await _solve(session, cohort, module, req, now)
    except UserError:
        if not kept:
            raise
        # Whole teams cannot all stay (the leftovers fit nowhere): place everyone again.
        kept = 0
        together = set(rules[PairRule.TOGETHER])
        req = F.Request(
            req.size_min,
            req.size_max,
            req.min_hours,
            frozenset((rules[PairRule.APART] | previous) - together),
            frozenset(together),
            time_limit,
        )
        result, _ = await _solve(session, cohort, module, req, now)
    team_set = await _store(session, caller, module, req, result, now)
    return await _proposal(session, module, team_set, result, kept)


@dataclass(frozen=True)
class Confirmed:
    set_id: int
    module_code: str
    teams: int
    previous_set_id: int | None

    def render(self) -> str:
        return (
            f"Created {self.teams} teams for {self.module_code} (set #{self.set_id}); each gets "
            "a private thread with its members and you."
        )


async def confirm(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, set_id: int, now: datetime
) -> Confirmed:
    """The proposal becomes the module's teams; the teams before it are kept as history."""
    team_set = (
        await session.execute(select(TeamSet).where(TeamSet.id == set_id).with_for_update())
    ).scalar_one_or_none()
    module = await session.get(Module, team_set.module_id) if team_set else None
    if team_set is None or module is None or module.cohort_id != cohort.id:
        raise NotFound(f"There is no team proposal #{set_id}.")
    require_staff(caller, module)
    if team_set.status is TeamSetStatus.ACTIVE:
        raise UserError(f"Teams #{set_id} were already created.")
    if team_set.status is not TeamSetStatus.PROPOSED:
        raise UserError(f"Proposal #{set_id} was replaced by a newer one; confirm that instead.")
    previous = await R.current_set(session, module)
    if previous is not None:
        previous.status = TeamSetStatus.SUPERSEDED
    team_set.status = TeamSetStatus.ACTIVE
    team_set.confirmed_at = now
    await session.flush()
    count = len(await R.teams_of(session, team_set))
    return Confirmed(team_set.id, module.code, count, previous.id if previous else None)


# --------------------------------------------------------------------------- show


async def show(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str, now: datetime
) -> str:
    """Staff: every team. A student: their own team, its shared hours and thread."""
    module = await module_by_code(session, cohort.id, module_code)
    staff = caller.is_staff_for(module.id)
    team_set = await R.require_active(session, module)
    teams = await R.teams_of(session, team_set)
    if staff:
        lines = [
            f"**Teams for {module.code}** (set #{team_set.id}, sizes "
            f"{team_set.size_min}–{team_set.size_max}, at least "
            f"{team_set.min_minutes / 60:g} h in a row shared each week)"
        ]
        for view in _views(teams):
            thread = f" <#{view.thread_id}>" if view.thread_id else ""
            lines.append(
                f"Team {view.number}: {', '.join(view.members)} — {view.shared_hours:g} h a "
                f"week (longest {view.longest_hours:g} h), {view.balance} answers{thread}"
            )
        return "\n".join(lines)
    for team, members in teams:
        if any(p.id == caller.person.id for p in members):
            thread = f"\nYour team's thread: <#{team.thread_id}>" if team.thread_id else ""
            shared = render.shared_lines(R.mask_of(team), team_set.reference_week, now)
            return (
                f"**Your team in {module.code}: team {team.number}**\n"
                f"{R.named(members)}\nShared hours (in your own time):\n"
                + "\n".join(shared)
                + thread
            )
    return f"You are not in a team for {module.code} yet; your tutor can add you."


# --------------------------------------------------------------------------- move


@dataclass(frozen=True)
class Moved:
    text: str
    thread_id: str | None
    user_id: str | None
    thread_note: str


async def _member_of(
    session: AsyncSession, team_set: TeamSet, person_id: int
) -> tuple[Team, list[Person]] | None:
    for team, members in await R.teams_of(session, team_set):
        if any(p.id == person_id for p in members):
            return team, members
    return None


async def move(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    student: ChatUser,
    team_number: int,
    now: datetime,
) -> Moved:
    """Move a student to another team of the active set, only if every hard rule still holds
    for both teams; otherwise refused in one sentence saying which rule would break."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    team_set = await R.require_active(session, module)
    person = await resolve_person(session, student)
    active = {p.id: p for p in await R.module_students(session, module)}
    if person is None or person.id not in active:
        raise UserError(f"{student.display_name} is not an active student of {module.code}.")
    teams = await R.teams_of(session, team_set)
    target = next(((t, m) for t, m in teams if t.number == team_number), None)
    if target is None:
        raise NotFound(f"{module.code} has no team {team_number}; see /teams show.")
    source = await _member_of(session, team_set, person.id)
    if source is not None and source[0].id == target[0].id:
        raise UserError(f"{person.display_name} is already in team {team_number}.")
    rules = await R.pair_rules(session, module)
    req = F.Request(
        team_set.size_min,
        team_set.size_max,
        team_set.min_minutes / 60,
        frozenset(rules[PairRule.APART]),
        frozenset(rules[PairRule.TOGETHER]),
    )
    involved = [person, *target[1], *(source[1] if source else [])]
    weeks = R.weeks_from(now)
    students = {s.id: s for s in await R.solver_students(session, cohort, module, involved, weeks)}
    refuse = f"Cannot move {person.display_name} to team {team_number}: "
    why = F.can_join([students[p.id] for p in target[1]], students[person.id], req)
    if why is not None:
        raise UserError(refuse + why + ".")
    if source is not None:
        left = [students[p.id] for p in source[1] if p.id != person.id]
        if len(left) < req.size_min:
            raise UserError(
                refuse + f"team {source[0].number} would be left with {len(left)} member(s) "
                f"(at least {req.size_min}); re-form the teams with /teams reform instead."
            )
        for a, b in req.together:
            if person.id in (a, b) and {a, b} & {p.id for p in source[1]} - {person.id}:
                raise UserError(refuse + "a tutor asked to keep them with a member of their team.")
    target_team, target_members = target
    if source is not None:
        await session.execute(
            delete(TeamMember).where(
                TeamMember.team_id == source[0].id, TeamMember.person_id == person.id
            )
        )
        rest = [students[p.id] for p in source[1] if p.id != person.id]
        _refresh(source[0], F.make_team(rest))
    session.add(TeamMember(team_id=target_team.id, person_id=person.id, set_id=team_set.id))
    joined = F.make_team([*(students[p.id] for p in target_members), students[person.id]])
    _refresh(target_team, joined)
    await session.flush()
    shared = render.shared_lines(joined.shared, team_set.reference_week, now)
    return Moved(
        text=(
            f"Moved {person.display_name} to team {team_number}; the team now shares "
            f"{joined.shared_hours:g} h a week (longest block "
            f"{av.longest_run(joined.shared) / av.SLOTS_PER_HOUR:g} h)."
        ),
        thread_id=target_team.thread_id,
        user_id=person.platform_user_id,
        thread_note=(
            f"👋 {person.display_name} has joined team {team_number}. Shared hours now:\n"
            + "\n".join(shared)
        ),
    )


def _refresh(row: Team, team: F.Team) -> None:
    row.shared = R.hex_mask(team.shared)
    row.balance = team.balance


# --------------------------------------------------------------------------- pairs


async def set_pair(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    first: ChatUser,
    second: ChatUser,
    rule: str,
) -> str:
    """Keep two students apart or together in the module's next formations ("either" clears)."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    a, b = await resolve_person(session, first), await resolve_person(session, second)
    active = {p.id for p in await R.module_students(session, module)}
    for user, p in ((first, a), (second, b)):
        if p is None or p.id not in active:
            raise UserError(f"{user.display_name} is not an active student of {module.code}.")
    assert a is not None and b is not None
    if a.id == b.id:
        raise UserError("Name two different students.")
    lo, hi = _pair(a.id, b.id)
    row = (
        await session.execute(
            select(TeamPair).where(
                TeamPair.module_id == module.id, TeamPair.first_id == lo, TeamPair.second_id == hi
            )
        )
    ).scalar_one_or_none()
    if rule == "either":
        if row is not None:
            await session.delete(row)
        return f"{a.display_name} and {b.display_name} may be in any team."
    wanted = PairRule(rule)
    if row is None:
        session.add(TeamPair(module_id=module.id, first_id=lo, second_id=hi, rule=wanted))
    else:
        row.rule = wanted
    await session.flush()
    return (
        f"{a.display_name} and {b.display_name} will be kept {wanted.value} when teams for "
        f"{module.code} are next formed."
    )


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class Exported:
    filename: str
    data: bytes
    text: str


async def export(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, module_code: str
) -> Exported:
    """One row per member: team, name, username, student number, zone, availability as given,
    the team's shared hours and balance."""
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    team_set = await R.require_active(session, module)
    teams = await R.teams_of(session, team_set)
    frees = await R.free_times(session, [p for _, members in teams for p in members], cohort)
    rows: list[list[object]] = []
    for team, members in teams:
        mask = R.mask_of(team)
        for p in members:
            free = frees[p.id]
            rows.append(
                [
                    module.code,
                    team.number,
                    p.display_name,
                    p.platform_username or "",
                    p.student_number or "",
                    free.zone,
                    av.describe(free.intervals) + ("" if free.given else " (default)"),
                    f"{av.hours(mask):g}",
                    f"{av.longest_run(mask) / av.SLOTS_PER_HOUR:g}",
                    team.balance,
                ]
            )
    header = [
        "module",
        "team",
        "name",
        "username",
        "student_number",
        "zone",
        "availability",
        "team_shared_hours",
        "team_longest_block_hours",
        "team_balance",
    ]
    return Exported(
        filename=f"teams-{module.code}.csv",
        data=csv_text(header, rows).encode("utf-8"),
        text=f"{len(rows)} student(s) in the teams of {module.code} (set #{team_set.id}).",
    )


__all__ = [
    "Confirmed",
    "Exported",
    "Moved",
    "Proposal",
    "TeamView",
    "confirm",
    "export",
    "form",
    "move",
    "reform",
    "set_pair",
    "show",
]

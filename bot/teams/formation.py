"""Team formation: guaranteed shared hours first, then the best balance for the worst team.

Pure (no I/O); the constraint solver is OR-Tools CP-SAT, not a hand-written search.

Hard rules, never broken by a proposed team:
- every team's members share a block of at least ``min_hours`` consecutive hours a week (a
  block, so the team can actually meet; UTC half-hour slots that hold in every week of the term,
  see ``availability``),
- sizes lie in [size_min, size_max],
- kept-apart pairs (tutor-set, previous teammates) never share a team; kept-together pairs do.

Then, as CATME Team-Maker does, the survey answers are balanced by maximising the *worst*
team's score (here: how many distinct answers a team covers, summed over the questions).

How (two CP-SAT models, both small): a team's shared block is one of the week's windows of
``min_hours``; only windows whose set of free students is maximal are kept (a window whose
students are a subset of another's can never do better), which leaves a few dozen. Model 1
gives each student one window and each window a number of teams k with k*min <= n <= k*max.
Model 2 fixes those teams (each with its window) and places students among the teams whose
window they are free in, with the pair rules and the max-min balance objective.

When no arrangement exists, ``Refusal`` names the students who cannot be placed and why (a
student whose free time overlaps a ``min_hours`` block with fewer than size_min-1 others can be
in no team at all), or says which rule cannot be met when nobody is individually to blame.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from bot.teams.availability import (
    ALL_SLOTS,
    SLOTS_PER_HOUR,
    SLOTS_PER_WEEK,
    hours,
    longest_run,
    window,
)

Pair = tuple[int, int]
#: At most this long (within the time limit) is spent lifting the worst team's shared hours.
WIDEN_SECONDS = 1.5


@dataclass(frozen=True)
class Student:
    """One student as the solver sees them: free slots (bitmask) and survey answers."""

    id: int
    slots: int
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    size_min: int
    size_max: int
    min_hours: float
    apart: frozenset[Pair] = frozenset()
    together: frozenset[Pair] = frozenset()
    #: Wall-clock budget for the solver in seconds (both models together).
    time_limit: float = 8.0
    seed: int = 0
    workers: int = 1

    @property
    def need_slots(self) -> int:
        return round(self.min_hours * SLOTS_PER_HOUR)


@dataclass(frozen=True)
class Team:
    members: tuple[int, ...]
    #: Slots every member is free in (the guaranteed block is inside it).
    shared: int
    balance: int

    @property
    def shared_hours(self) -> float:
        return hours(self.shared)


@dataclass(frozen=True)
class Formation:
    teams: tuple[Team, ...]
    #: True when CP-SAT proved the worst team's balance cannot be higher.
    optimal: bool
    seconds: float

    @property
    def worst_hours(self) -> float:
        return min((t.shared_hours for t in self.teams), default=0.0)

    @property
    def worst_balance(self) -> int:
        return min((t.balance for t in self.teams), default=0)


@dataclass(frozen=True)
class Refusal:
    """No arrangement: who cannot be placed (id -> why), and the rule that failed."""

    unplaceable: Mapping[int, str]
    reason: str


def _norm(pairs: Iterable[Pair]) -> set[Pair]:
    return {(min(a, b), max(a, b)) for a, b in pairs if a != b}


def shared_slots(slots: Iterable[int]) -> int:
    mask = ALL_SLOTS
    for s in slots:
        mask &= s
    return mask


def balance_score(answers: Iterable[Mapping[str, str]]) -> int:
    """Distinct (question, answer) pairs a team covers: more means a broader mix."""
    return len({(q, a) for ans in answers for q, a in ans.items()})


def make_team(members: Sequence[Student]) -> Team:
    return Team(
        members=tuple(sorted(s.id for s in members)),
        shared=shared_slots(s.slots for s in members),
        balance=balance_score(s.answers for s in members),
    )


def violations(
    teams: Sequence[Sequence[int]], students: Sequence[Student], req: Request
) -> list[str]:
    """Every hard rule a set of teams breaks, one sentence each (empty when all hold)."""
    by_id = {s.id: s for s in students}
    out: list[str] = []
    seen: dict[int, int] = {}
    for i, team in enumerate(teams):
        if not req.size_min <= len(team) <= req.size_max:
            out.append(f"team {i + 1} has {len(team)} members")
        for m in team:
            if m in seen:
                out.append(f"student {m} is in teams {seen[m] + 1} and {i + 1}")
            seen[m] = i
        run = longest_run(shared_slots(by_id[m].slots for m in team))
        if run < req.need_slots:
            out.append(f"team {i + 1} shares only {run / SLOTS_PER_HOUR:g} consecutive hours")
        members = set(team)
        for a, b in _norm(req.apart):
            if a in members and b in members:
                out.append(f"team {i + 1} holds the kept-apart pair {a}, {b}")
    for a, b in _norm(req.together):
        if a in seen and b in seen and seen[a] != seen[b]:
            out.append(f"the kept-together pair {a}, {b} is split")
    missing = set(by_id) - set(seen)
    if missing:
        out.append(f"students {sorted(missing)} have no team")
    return out


# --------------------------------------------------------------------------- windows


def candidate_windows(students: Sequence[Student], need: int, size_min: int) -> list[int]:
    """Start slots of the ``need``-slot blocks worth considering: each window's free students
    form a set no other window's set contains, and holds at least ``size_min`` students."""
    if need <= 0:
        return [-1]  # no hours required: one window everybody is free in
    by_set: dict[frozenset[int], int] = {}
    for start in range(SLOTS_PER_WEEK):
        w = window(start, min(need, SLOTS_PER_WEEK))
        free = frozenset(s.id for s in students if s.slots & w == w)
        if len(free) >= size_min and free not in by_set:
            by_set[free] = start
    maximal: list[tuple[frozenset[int], int]] = []
    for free, start in sorted(by_set.items(), key=lambda kv: (-len(kv[0]), kv[1])):
        if not any(free < kept for kept, _ in maximal):
            maximal.append((free, start))
    return sorted(start for _, start in maximal)


def _window_mask(start: int, need: int) -> int:
    return ALL_SLOTS if start < 0 else window(start, need)


def explain(students: Sequence[Student], req: Request) -> dict[int, str]:
    """Students who can be in no team at all, with the reason in words.

    A student is placeable only if some ``min_hours`` block they are free in is also free for at
    least size_min-1 others they may be teamed with; naming them is exact for that rule.
    """
    need = req.need_slots
    apart = _norm(req.apart)
    apart_of: dict[int, set[int]] = {}
    for p, q in apart:
        apart_of.setdefault(p, set()).add(q)
        apart_of.setdefault(q, set()).add(p)
    partners: dict[int, int] = {s.id: 0 for s in students}
    starts = range(SLOTS_PER_WEEK) if need > 0 else [-1]
    for start in starts:
        w = _window_mask(start, need)
        free = {s.id for s in students if s.slots & w == w}
        for sid in free:
            others = len(free) - 1 - len(apart_of.get(sid, set()) & free)
            partners[sid] = max(partners[sid], others)
    out: dict[int, str] = {}
    hrs = f"{req.min_hours:g}"
    for s in students:
        if longest_run(s.slots) < need:
            out[s.id] = f"is free for no block of {hrs} hours a week"
        elif partners[s.id] < req.size_min - 1:
            out[s.id] = (
                f"shares a block of {hrs} hours with only {partners[s.id]} other student(s); "
                f"a team needs {req.size_min}"
            )
    by_id = {s.id: s for s in students}
    for a, b in _norm(req.together):
        if a in by_id and b in by_id and a not in out and b not in out:
            joint = [by_id[a].slots, by_id[b].slots]
            if longest_run(shared_slots(joint)) < need:
                why = f"must be with {{}} but they share no block of {hrs} hours"
                out[a], out[b] = why.format(b), why.format(a)
    return out


# --------------------------------------------------------------------------- solving


def _split(ids: Sequence[int], k: int) -> list[list[int]]:
    """``ids`` in ``k`` near-equal parts (used as the solver's starting hint)."""
    return [list(ids[i::k]) for i in range(k)]


def _solver(req: Request, seconds: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, seconds)
    solver.parameters.random_seed = req.seed
    solver.parameters.num_workers = req.workers
    return solver


def form(students: Sequence[Student], req: Request) -> Formation | Refusal:
    """Teams meeting every hard rule with the best worst-team balance found in the time limit,
    or a refusal naming who cannot be placed."""
    began = time.monotonic()
    if req.size_min < 1 or req.size_max < req.size_min:
        return Refusal({}, "The team size range is empty.")
    ids = [s.id for s in students]
    if len(set(ids)) != len(ids):
        return Refusal({}, "A student is listed twice.")
    n = len(students)
    if n == 0:
        return Refusal({}, "There are no students to place in teams.")
    lone = explain(students, req)
    if lone:
        return Refusal(lone, "Some students cannot be placed in any team.")
    apart, together = _norm(req.apart), _norm(req.together)
    if apart & together:
        first, second = sorted(apart & together)[0]
        return Refusal({}, f"Students {first} and {second} are to be kept both apart and together.")
    need = req.need_slots
    windows = candidate_windows(students, need, req.size_min)
    masks = {w: _window_mask(w, need) for w in windows}
    free_in = {s.id: [w for w in windows if s.slots & masks[w] == masks[w]] for s in students}

    # Model 1: each student one window; each window a whole number of teams.
    m1 = cp_model.CpModel()
    a = {(sid, w): m1.new_bool_var(f"a{sid}_{w}") for sid, ws in free_in.items() for w in ws}
    for sid, ws in free_in.items():
        m1.add_exactly_one(a[sid, w] for w in ws)
    count: dict[int, cp_model.IntVar] = {}
    for w in windows:
        here = [a[sid, w] for sid in ids if (sid, w) in a]
        teams_here = m1.new_int_var(0, len(here) // req.size_min, f"k{w}")
        m1.add(sum(here) >= req.size_min * teams_here)
        m1.add(sum(here) <= req.size_max * teams_here)
        count[w] = teams_here
    for p, q in together:
        for w in windows:
            if (p, w) in a and (q, w) in a:
                m1.add(a[p, w] == a[q, w])
            elif (p, w) in a:
                m1.add(a[p, w] == 0)
            elif (q, w) in a:
                m1.add(a[q, w] == 0)
    s1 = _solver(req, min(req.time_limit / 4, 2.0))
    status = s1.solve(m1)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        proven = status == cp_model.INFEASIBLE
        return Refusal(
            {},
            (
                f"The {n} students cannot be split into teams of {req.size_min}–{req.size_max} "
                f"that each share a block of {req.min_hours:g} hours"
                + (" (with the kept-together pairs)." if together else ".")
            )
            if proven
            else "No arrangement was found within the time limit; try again or relax a rule.",
        )
    teams_of: list[int] = []  # window of each team
    hint: dict[tuple[int, int], int] = {}
    for w in windows:
        k = int(s1.value(count[w]))
        group = [sid for sid in ids if (sid, w) in a and s1.boolean_value(a[sid, w])]
        for part in _split(group, k) if k else []:
            t = len(teams_of)
            teams_of.append(w)
            hint.update({(sid, t): 1 for sid in part})

    # Model 2: students among the fixed teams; pair rules; max-min balance.
    m2 = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for s in students:
        for t, w in enumerate(teams_of):
            if w in free_in[s.id]:
                x[s.id, t] = m2.new_bool_var(f"x{s.id}_{t}")
                m2.add_hint(x[s.id, t], hint.get((s.id, t), 0))
    for sid in ids:
        m2.add_exactly_one(v for (p, _), v in x.items() if p == sid)
    by_team: dict[int, list[int]] = {t: [] for t in range(len(teams_of))}
    for sid, t in x:
        by_team[t].append(sid)
    for t, members in by_team.items():
        size = sum(x[sid, t] for sid in members)
        m2.add(size >= req.size_min)
        m2.add(size <= req.size_max)
        for p, q in apart:
            if (p, t) in x and (q, t) in x:
                m2.add(x[p, t] + x[q, t] <= 1)
        for p, q in together:
            if (p, t) in x and (q, t) in x:
                m2.add(x[p, t] == x[q, t])
            elif (p, t) in x:
                m2.add(x[p, t] == 0)
            elif (q, t) in x:
                m2.add(x[q, t] == 0)
    answers = {(q, c) for s in students for q, c in s.answers.items()}
    by_id = {s.id: s for s in students}
    if answers:
        worst = m2.new_int_var(0, len(answers), "worst")
        for t, members in by_team.items():
            covered = []
            for question, choice in sorted(answers):
                holders = [
                    x[sid, t] for sid in members if by_id[sid].answers.get(question) == choice
                ]
                if holders:
                    h = m2.new_bool_var(f"h{t}_{question}_{choice}")
                    m2.add(h <= sum(holders))
                    covered.append(h)
            m2.add(worst <= sum(covered))
        m2.maximize(worst)
    left = req.time_limit - (time.monotonic() - began)
    s2 = _solver(req, left)
    status = s2.solve(m2)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.INFEASIBLE:
            rules = [r for r, on in (("kept-apart", apart), ("kept-together", together)) if on]
            why = f" with the {' and '.join(rules)} pairs" if rules else ""
            return Refusal({}, f"No teams of {req.size_min}–{req.size_max} can be formed{why}.")
        return Refusal({}, "No arrangement was found within the time limit; try again.")
    groups = [
        [by_id[sid] for sid in members if s2.boolean_value(x[sid, t])]
        for t, members in by_team.items()
    ]
    floor = min(balance_score(s.answers for s in g) for g in groups)
    budget = min(WIDEN_SECONDS, req.time_limit - (time.monotonic() - began))
    teams = sorted(
        (make_team(g) for g in widen_overlap(groups, req, floor, budget)), key=lambda tm: tm.members
    )
    return Formation(
        teams=tuple(teams),
        optimal=status == cp_model.OPTIMAL,
        seconds=time.monotonic() - began,
    )


def widen_overlap(
    teams: list[list[Student]], req: Request, floor_balance: int, budget: float
) -> list[list[Student]]:
    """Raise the least shared hours of any team by swapping members between teams.

    The solver guarantees the ``min_hours`` block and the best worst-team balance; this hill
    climb then lifts the worst team's total shared time, accepting a swap only if both teams
    end above the current worst, every hard rule still holds and neither team's balance falls
    below ``floor_balance`` (so the max-min balance is kept). Students with a kept-together
    partner stay where they are. Stops when the worst team cannot be lifted, or at ``budget``.
    """
    deadline = time.monotonic() + max(0.0, budget)
    apart_of: dict[int, set[int]] = {}
    for a, b in _norm(req.apart):
        apart_of.setdefault(a, set()).add(b)
        apart_of.setdefault(b, set()).add(a)
    tied = {p for pair in _norm(req.together) for p in pair}
    teams = [list(t) for t in teams]

    def slots(members: Sequence[Student]) -> int:
        return shared_slots(m.slots for m in members).bit_count()

    def fits(members: Sequence[Student]) -> bool:
        ids = {m.id for m in members}
        return (
            longest_run(shared_slots(m.slots for m in members)) >= req.need_slots
            and not any(apart_of.get(i, set()) & ids for i in ids)
            and balance_score(m.answers for m in members) >= floor_balance
        )

    def lift(w: int, worst: int) -> bool:
        for mi, m in enumerate(teams[w]):
            if m.id in tied:
                continue
            for t, other in enumerate(teams):
                if t == w:
                    continue
                for oi, o in enumerate(other):
                    if o.id in tied:
                        continue
                    new_w = [*teams[w][:mi], o, *teams[w][mi + 1 :]]
                    hw = slots(new_w)
                    if hw <= worst:
                        continue
                    new_t = [*other[:oi], m, *other[oi + 1 :]]
                    ht = slots(new_t)
                    if ht <= worst or not (fits(new_w) and fits(new_t)):
                        continue
                    teams[w], teams[t] = new_w, new_t
                    return True
                if time.monotonic() > deadline:
                    return False
        return False

    while time.monotonic() < deadline:
        order = sorted(range(len(teams)), key=lambda i: slots(teams[i]))
        worst = slots(teams[order[0]])
        if not any(lift(w, worst) for w in order if slots(teams[w]) == worst):
            break
    return teams


def can_join(members: Sequence[Student], newcomer: Student, req: Request) -> str | None:
    """Why ``newcomer`` cannot join ``members`` (one sentence), or None if they can."""
    ids = {m.id for m in members}
    if len(ids) + 1 > req.size_max:
        return f"the team already has {len(ids)} members (at most {req.size_max})"
    for a, b in _norm(req.apart):
        if (a == newcomer.id and b in ids) or (b == newcomer.id and a in ids):
            return "they are to be kept apart from a member of that team"
    run = longest_run(shared_slots([*(m.slots for m in members), newcomer.slots]))
    if run < req.need_slots:
        return (
            f"the team would share only {_hours_text(run)} in a row a week "
            f"(at least {req.min_hours:g} are needed)"
        )
    return None


def _hours_text(slots: int) -> str:
    h = slots / SLOTS_PER_HOUR
    return f"{h:g} hour" + ("" if h == 1 else "s")


def sizes_ok(sizes: Iterable[int], req: Request) -> bool:
    return all(req.size_min <= s <= req.size_max for s in sizes)


__all__ = [
    "Formation",
    "Refusal",
    "Request",
    "Student",
    "Team",
    "balance_score",
    "can_join",
    "explain",
    "form",
    "make_team",
    "shared_slots",
    "violations",
]

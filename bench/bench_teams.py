"""Team formation at scale: 300 students in 10 zones, teams of 4-5, 3 shared hours a week.

Prints the solver's wall time (target < 10 s) and a table comparing, for the CP-SAT formation, a
random split and a greedy one (seed each team with the least-available student, add whoever
keeps the longest shared block): the worst team's shared block and total shared hours, how many
teams fall short of 3 hours in a row, and the worst team's survey balance (distinct answers).

    .venv/bin/python bench/bench_teams.py [--n 300] [--hours 3] [--seed 1] [--time-limit 8]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from datetime import date

from bot.teams import availability as av
from bot.teams.formation import Formation, Request, Student, form, make_team, shared_slots

ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)
PATTERNS = (
    av.DEFAULT_INTERVALS,
    av.parse_intervals("Mon-Fri 18:00-22:00; Sat 09:00-13:00"),
    av.parse_intervals("Mon-Thu 20:00-23:30; Sun 14:00-20:00"),
    av.parse_intervals("Mon-Fri 06:00-08:00; Sat-Sun 08:00-12:00"),
    av.parse_intervals("Tue-Fri 12:00-14:00; Sat 10:00-16:00"),
)
QUESTIONS = {
    "skill": ("programming", "statistics", "writing", "design"),
    "role": ("lead", "builder", "checker"),
    "background": ("computing", "science", "business"),
}


def cohort(n: int, seed: int) -> list[Student]:
    rng = random.Random(seed)
    weeks = av.term_weeks(date(2026, 9, 28), date(2026, 12, 18))  # both DST changes inside
    return [
        Student(
            i,
            av.utc_slots(rng.choice(PATTERNS), rng.choice(ZONES), weeks),
            {q: rng.choice(choices) for q, choices in QUESTIONS.items()},
        )
        for i in range(n)
    ]


def sizes(n: int, size_max: int) -> list[int]:
    k = -(-n // size_max)
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def random_teams(students: Sequence[Student], size_max: int, seed: int) -> list[list[Student]]:
    order = list(students)
    random.Random(seed).shuffle(order)
    out, i = [], 0
    for size in sizes(len(order), size_max):
        out.append(order[i : i + size])
        i += size
    return out


def greedy_teams(students: Sequence[Student], size_max: int) -> list[list[Student]]:
    left = sorted(students, key=lambda s: (s.slots.bit_count(), s.id))
    out: list[list[Student]] = []
    for size in sizes(len(students), size_max):
        team = [left.pop(0)]
        while len(team) < size and left:
            mask = shared_slots(m.slots for m in team)
            best = max(left, key=lambda s: (av.longest_run(mask & s.slots), -s.id))
            team.append(best)
            left.remove(best)
        out.append(team)
    return out


def row(name: str, teams: Sequence[Sequence[Student]], need: int, seconds: float) -> str:
    built = [make_team(t) for t in teams]
    runs = [av.longest_run(t.shared) / av.SLOTS_PER_HOUR for t in built]
    short = sum(1 for r in runs if r * av.SLOTS_PER_HOUR < need)
    return (
        f"| {name:<13} | {min(runs):>13.1f} | {min(t.shared_hours for t in built):>13.1f} "
        f"| {short:>13} | {min(t.balance for t in built):>13} "
        f"| {sum(t.balance for t in built) / len(built):>12.2f} "
        f"| {sum(t.shared_hours for t in built) / len(built):>12.2f} | {seconds:>7.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    t0 = time.perf_counter()
    students = cohort(args.n, args.seed)
    prep = time.perf_counter() - t0
    req = Request(
        4, 5, args.hours, time_limit=args.time_limit, seed=args.seed, workers=args.workers
    )
    t0 = time.perf_counter()
    result = form(students, req)
    solve = time.perf_counter() - t0
    if not isinstance(result, Formation):
        raise SystemExit(f"refused: {result.reason} {dict(result.unplaceable)}")
    by_id = {s.id: s for s in students}
    solved = [[by_id[m] for m in t.members] for t in result.teams]
    t0 = time.perf_counter()
    rnd = random_teams(students, 5, args.seed)
    t_rnd = time.perf_counter() - t0
    t0 = time.perf_counter()
    grd = greedy_teams(students, 5)
    t_grd = time.perf_counter() - t0

    print(
        f"{args.n} students, {len(ZONES)} zones, {len(PATTERNS)} weekly patterns, "
        f"12-week term across both DST changes; teams of 4-5, {args.hours:g} shared hours"
    )
    print(f"availability -> UTC slots: {prep:.2f} s")
    print(
        f"CP-SAT formation: {solve:.2f} s (target < 10 s), {len(result.teams)} teams, "
        f"{'proven optimal' if result.optimal else 'best found within the time limit'}"
    )
    print()
    print(
        "| assignment    | worst block h | worst total h | teams < block "
        "| worst balance | mean balance | mean total h | seconds |"
    )
    print(
        "|---------------|--------------:|--------------:|--------------:"
        "|--------------:|-------------:|-------------:|--------:|"
    )
    need = req.need_slots
    print(row("CP-SAT", solved, need, solve))
    print(row("random", rnd, need, t_rnd))
    print(row("greedy", grd, need, t_grd))
    print()
    print("balance = distinct survey answers a team covers (3 questions, 10 answers in all);")
    print("block = consecutive shared hours; total = all hours a week every member is free")


if __name__ == "__main__":
    main()

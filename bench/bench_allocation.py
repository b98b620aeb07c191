"""Reviewer allocation at scale: 50,000 submissions, k=3, study groups of ~8, one earlier exercise.

Prints wall time (target < 1 s) and, for the constrained case, the process's CPU time (the
machine is shared: wall time moves with its load, printed too), the constraint report and the
loads, against baselines run in the same process: a bare cyclic pass over the same people
(the least any allocator must do) and the unconstrained allocation.

    .venv/bin/python bench/bench_allocation.py [--n 50000] [--k 3] [--group-size 8] [--rounds 3]
    [--quick]

A growth table (1k/10k/50k) shows how time grows with the cohort. Pure code, so it runs in
this process: no Discord, no database.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

from bot.peer.allocation import AllocationResult, allocate, allocate_late, reassign

T = TypeVar("T")


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times: list[float] = []
    result: T | None = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    assert result is not None
    return statistics.median(times), result


def bare_cycle(people: list[int], k: int, seed: int) -> list[tuple[int, int]]:
    order = list(people)
    random.Random(seed).shuffle(order)
    n = len(order)
    return [(order[(i + s) % n], order[i]) for i in range(n) for s in range(1, k + 1)]


def audit(
    result: AllocationResult,
    groups: dict[int, int],
    history: set[tuple[int, int]],
) -> dict[str, int]:
    pairs = [(a.reviewer, a.author) for a in result.assignments]
    return {
        "self reviews": sum(1 for r, a in pairs if r == a),
        "same-group pairs": sum(1 for r, a in pairs if groups.get(r) == groups.get(a)),
        "duplicate pairs": len(pairs) - len(set(pairs)),
        "repeats of the earlier exercise": sum(1 for p in pairs if p in history),
        "submissions short of k": len(result.shortfalls),
    }


def setup(n: int, group_size: int) -> tuple[list[int], dict[int, int], set[tuple[int, int]]]:
    """``n`` people in study groups, with the pairs of one earlier exercise as history."""
    people = list(range(1, n + 1))
    shuffled = people[:]
    random.Random(7).shuffle(shuffled)
    groups = {p: i // group_size for i, p in enumerate(shuffled)}
    earlier = allocate(people, k=3, groups=groups, seed=1)
    return people, groups, {(a.reviewer, a.author) for a in earlier.assignments}


def rounds_of(
    fn: Callable[[], T], runs: int, cpu: list[float] | None = None
) -> tuple[list[float], T]:
    """Wall time of each round (and its CPU time, into ``cpu`` if given)."""
    times: list[float] = []
    result: T | None = None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    assert result is not None
    return times, result


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def ms(times: list[float]) -> str:
    """Median and range, in ms."""
    return (
        f"{statistics.median(times) * 1000:8.1f} ms ({min(times) * 1000:.0f}-"
        f"{max(times) * 1000:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--rounds", "--runs", type=int, default=3, dest="runs")
    parser.add_argument("--quick", action="store_true", help="1k and 10k only, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.n, args.runs = min(args.n, 10_000), min(args.runs, 2)
    k, runs = args.k, args.runs
    sizes = sorted({s for s in (1_000, 10_000, 50_000) if s <= args.n} | {args.n})

    print(
        f"allocation growth: k={k}, groups of {args.group_size}, one earlier exercise as "
        f"history; median (range) of {runs} rounds; pure, in this process ({load()})"
    )
    print(
        f"  {'submissions':>11} | {'bare cyclic pass':>22} | {'no constraints':>22} | "
        f"{'groups + history':>22} | violations | rounds (ms) | CPU (ms)"
    )
    for size in sizes:
        people, groups, history = setup(size, args.group_size)
        t_bare, _ = rounds_of(functools.partial(bare_cycle, people, k, 2), runs)
        t_free, _ = rounds_of(functools.partial(allocate, people, k=k, seed=2), runs)
        cpu: list[float] = []
        t_full, result = rounds_of(
            functools.partial(allocate, people, k=k, groups=groups, history=history, seed=2),
            runs,
            cpu,
        )
        violations = sum(audit(result, groups, history).values())
        each = " ".join(f"{t * 1000:.0f}" for t in t_full)
        each_cpu = " ".join(f"{t * 1000:.0f}" for t in cpu)
        print(
            f"  {size:>11,} | {ms(t_bare):>22} | {ms(t_free):>22} | {ms(t_full):>22} | "
            f"{violations:>10} | {each} | {each_cpu} ({load()})"
        )
    n = args.n
    verdict = "met" if statistics.median(t_full) < 1 and violations == 0 else "NOT met"
    print(f"  target at {n:,}: < 1000 ms and 0 violations: {verdict}")
    print(f"  loads: min {result.min_load}, max {result.max_load}, spread {result.load_spread}")
    for label, count in audit(result, groups, history).items():
        print(f"  {label:<34}{count:>6}")
    print(f"  report notes: {list(result.notes) or 'none'}")

    # Late submissions and a departed reviewer, on top of the same allocation.
    on_time = people[: n - n // 100]
    late = people[n - n // 100 :]
    base = allocate(on_time, k=k, reviewers=people, groups=groups, history=history, seed=3)
    t_late, late_result = timed(
        lambda: allocate_late(
            late, base.assignments, k=k, reviewers=people, groups=groups, history=history, seed=4
        ),
        runs,
    )
    print(
        f"  allocate_late, {len(late)} late        {t_late * 1000:8.1f} ms"
        f"   loads {late_result.min_load}-{late_result.max_load},"
        f" short {len(late_result.shortfalls)}"
    )
    gone = result.assignments[0].reviewer
    dropped = [a for a in result.assignments if a.reviewer == gone]
    t_re, re_result = timed(
        lambda: reassign(
            result.assignments,
            dropped,
            exclude=[gone],
            groups=groups,
            history=history,
            seed=5,
        ),
        runs,
    )
    print(
        f"  reassign a departed reviewer  {t_re * 1000:8.1f} ms"
        f"   {len(re_result.added)} replaced, short {len(re_result.shortfalls)}"
    )

    # An infeasible shape, for scale: one group holding 60% of a 500-person cohort.
    small = list(range(500))
    big = {p: 0 for p in small[:300]}
    t_big, big_result = timed(lambda: allocate(small, k=k, groups=big, seed=6), runs)
    print(
        f"  500 people, one group of 300  {t_big * 1000:8.1f} ms"
        f"   loads {big_result.min_load}-{big_result.max_load} (best possible: 2-5)"
    )


if __name__ == "__main__":
    main()

"""Reviewer allocation: the fairness rules hold on any cohort, and shortfalls are explained."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.peer.allocation import (
    AllocationResult,
    Assignment,
    allocate,
    allocate_late,
    barred,
    reassign,
)


@dataclass
class Cohort:
    authors: list[int]
    k: int
    extra_reviewers: list[int] = field(default_factory=list)
    groups: dict[int, int] | None = None
    history: list[tuple[int, int]] = field(default_factory=list)
    seed: int = 0

    @property
    def pool(self) -> list[int]:
        return self.authors + self.extra_reviewers

    def run(self) -> AllocationResult:
        return allocate(
            self.authors,
            k=self.k,
            reviewers=self.pool if self.extra_reviewers else None,
            groups=self.groups,
            history=self.history,
            seed=self.seed,
        )

    def mates(self, r: int, a: int) -> bool:
        return self.groups is not None and r in self.groups and self.groups.get(a) == self.groups[r]

    def eligible(self, a: int) -> int:
        return sum(1 for r in self.pool if r != a and not self.mates(r, a))


@st.composite
def cohorts(
    draw: st.DrawFn,
    *,
    max_n: int = 30,
    with_groups: bool = True,
    with_extra: bool = True,
    with_history: bool = True,
) -> Cohort:
    n = draw(st.integers(1, max_n))
    authors = list(range(100, 100 + n))
    extra = list(range(1, 1 + draw(st.integers(0, 4)))) if with_extra else []
    people = authors + extra
    groups = None
    if with_groups and draw(st.booleans()):
        n_groups = draw(st.integers(1, max(1, len(people) // 2)))
        groups = {
            p: draw(st.integers(0, n_groups - 1)) for p in people if draw(st.integers(0, 4)) > 0
        }
    history: list[tuple[int, int]] = []
    if with_history and n > 1:
        pairs = [(r, a) for r in people for a in authors if r != a]
        history = draw(st.lists(st.sampled_from(pairs), max_size=3 * n))
    return Cohort(
        authors=authors,
        k=draw(st.integers(1, 5)),
        extra_reviewers=extra,
        groups=groups,
        history=history,
        seed=draw(st.integers(0, 2**32)),
    )


def counts(result: AllocationResult) -> Counter[int]:
    return Counter(a.author for a in result.assignments)


def group_max(c: Cohort) -> int:
    if not c.groups:
        return 1
    sizes = Counter(c.groups[p] for p in c.pool if p in c.groups)
    return max([1, *sizes.values()])


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(cohorts())
def test_rules_are_never_broken(c: Cohort) -> None:
    result = c.run()
    pairs = [(a.reviewer, a.author) for a in result.assignments]
    assert len(pairs) == len(set(pairs)), "a pair appears twice"
    for r, a in pairs:
        assert r != a, "someone reviews themself"
        assert not c.mates(r, a), "someone reviews a group-mate"
        assert r in c.pool
        assert a in c.authors


@settings(max_examples=300, deadline=None)
@given(cohorts())
def test_every_submission_gets_k_reviewers_or_as_many_as_are_eligible(c: Cohort) -> None:
    result = c.run()
    got = counts(result)
    short = {s.author: s for s in result.shortfalls}
    for a in c.authors:
        expected = min(c.k, c.eligible(a))
        assert got[a] == expected
        if expected < c.k:
            assert short[a].missing == c.k - expected
            assert short[a].eligible == c.eligible(a)
        else:
            assert a not in short


@settings(max_examples=300, deadline=None)
@given(cohorts(with_extra=False))
def test_everyone_reviews_exactly_k_when_a_perfect_allocation_exists(c: Cohort) -> None:
    # Listing people group by group, "review the k people g_max..g_max+k-1 places further
    # round the circle" is perfect whenever n >= 2*g_max + k - 1: such an allocation exists.
    n = len(c.authors)
    if n < 2 * group_max(c) + c.k - 1:
        return
    result = c.run()
    assert result.complete
    assert set(result.loads.values()) == {c.k}
    assert not any("loads" in note for note in result.notes)


@settings(max_examples=300, deadline=None)
@given(cohorts(with_groups=False))
def test_loads_differ_by_at_most_one_without_groups(c: Cohort) -> None:
    if len(c.pool) < c.k + 1:
        return
    result = c.run()
    assert result.complete
    assert result.load_spread <= 1
    assert sum(result.loads.values()) == c.k * len(c.authors)


def _max_flow(cap: dict[int, dict[int, int]], s: int, t: int) -> int:
    flow = 0
    while True:
        parent = {s: s}
        queue = [s]
        for u in queue:
            for v, c in cap[u].items():
                if c > 0 and v not in parent:
                    parent[v] = u
                    queue.append(v)
        if t not in parent:
            return flow
        v = t
        while v != s:
            u = parent[v]
            cap[u][v] -= 1
            cap[v][u] = cap[v].get(u, 0) + 1
            v = u
        flow += 1


def _loads_possible(c: Cohort, lo: int, hi: int) -> bool:
    """Can every author get min(k, eligible) reviewers with every load in [lo, hi]?

    A circulation with lower bounds, checked by max flow: an oracle independent of the
    allocator's own search.
    """
    src, sink, ss, tt = -1, -2, -3, -4
    nodes = [src, sink, ss, tt, *c.authors, *[1000 + r for r in c.pool]]
    cap: dict[int, dict[int, int]] = {v: {} for v in nodes}
    excess = dict.fromkeys(nodes, 0)

    def edge(u: int, v: int, low: int, high: int) -> None:
        cap[u][v] = cap[u].get(v, 0) + high - low
        cap[v].setdefault(u, 0)
        excess[v] += low
        excess[u] -= low

    for a in c.authors:
        want = min(c.k, c.eligible(a))
        edge(src, a, want, want)
        for r in c.pool:
            if r != a and not c.mates(r, a):
                edge(a, 1000 + r, 0, 1)
    for r in c.pool:
        edge(1000 + r, sink, lo, hi)
    edge(sink, src, 0, 10**6)
    need = 0
    for v, e in excess.items():
        if e > 0:
            edge(ss, v, 0, e)
            need += e
        elif e < 0:
            edge(v, tt, 0, -e)
    return _max_flow(cap, ss, tt) == need


# Found by this property: a repeat swapped out early moved a later one away, which was then
# "put back" as an extra review (k+1 reviewers, spread 2).
_MOVED_REPEAT = Cohort(
    authors=[100, 101, 102],
    k=4,
    extra_reviewers=[1, 2, 3, 4],
    history=[(101, 100), (102, 100), (1, 100), (1, 101), (3, 101)],
    seed=13817,
)


@settings(max_examples=150, deadline=None)
@given(cohorts(max_n=10))
@example(_MOVED_REPEAT)
def test_load_spread_is_the_least_any_allocation_could_achieve(c: Cohort) -> None:
    result = c.run()
    total = sum(min(c.k, c.eligible(a)) for a in c.authors)
    m = len(c.pool)
    best = min(
        hi - lo
        for lo in range(total // m + 1)
        for hi in range(max(lo, -(-total // m)), total + 1)
        if _loads_possible(c, lo, hi)
    )
    assert result.load_spread == best


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(12, 80),
    k=st.integers(1, 4),
    seeds=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)),
)
def test_no_pair_repeats_an_earlier_exercise_when_avoidable(
    n: int, k: int, seeds: tuple[int, int]
) -> None:
    authors = list(range(n))
    first = allocate(authors, k=k, seed=seeds[0])
    second = allocate(authors, k=k, history=first.assignments, seed=seeds[1])
    assert second.repeats == ()
    assert not set(first.assignments) & set(second.assignments)
    assert second.complete and second.balanced


@settings(max_examples=100, deadline=None)
@given(cohorts())
def test_the_result_depends_on_the_seed_not_on_input_order(c: Cohort) -> None:
    shuffled = allocate(
        list(reversed(c.authors)),
        k=c.k,
        reviewers=list(reversed(c.pool)) if c.extra_reviewers else None,
        groups=c.groups,
        history=list(reversed(c.history)),
        seed=c.seed,
    )
    assert shuffled == c.run()


@settings(max_examples=200, deadline=None)
@given(c=cohorts(max_n=25), late_count=st.integers(1, 6), late_seed=st.integers(0, 2**32))
def test_late_submissions_get_reviewers_without_touching_existing_pairs(
    c: Cohort, late_count: int, late_seed: int
) -> None:
    before = c.run()
    late = list(range(900, 900 + late_count))
    groups = dict(c.groups) if c.groups is not None else None
    result = allocate_late(
        late,
        before.assignments,
        k=c.k,
        reviewers=c.pool + late,
        groups=groups,
        history=c.history,
        seed=late_seed,
    )
    assert set(before.assignments) <= set(result.assignments)
    assert all(a.author in late for a in result.added)
    after = Cohort(c.authors + late, c.k, c.extra_reviewers, groups)
    got = counts(result)
    for a in late:
        assert got[a] == min(c.k, after.eligible(a))
    for r, a in ((x.reviewer, x.author) for x in result.added):
        assert r != a and not after.mates(r, a)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(8, 60),
    k=st.integers(1, 4),
    late_count=st.integers(1, 5),
    seed=st.integers(0, 2**32),
)
def test_late_reviews_spread_evenly_over_the_reviewers(
    n: int, k: int, late_count: int, seed: int
) -> None:
    authors = list(range(n))
    before = allocate(authors, k=k, seed=seed)
    late = list(range(1000, 1000 + late_count))
    result = allocate_late(late, before.assignments, k=k, reviewers=authors, seed=seed + 1)
    assert result.complete
    loads = list(result.loads.values())
    assert max(loads) - min(loads) <= 1


@settings(max_examples=200, deadline=None)
@given(c=cohorts(max_n=25), pick=st.integers(0, 10**6))
def test_reassignment_replaces_a_departed_reviewer_and_keeps_the_rest(c: Cohort, pick: int) -> None:
    before = c.run()
    if not before.assignments:
        return
    gone = before.assignments[pick % len(before.assignments)].reviewer
    dropped = [a for a in before.assignments if a.reviewer == gone]
    result = reassign(
        before.assignments,
        dropped,
        reviewers=c.pool,
        exclude=[gone],
        groups=c.groups,
        history=c.history,
        seed=c.seed,
    )
    kept = set(before.assignments) - set(dropped)
    assert kept <= set(result.assignments)
    assert all(a.reviewer != gone for a in result.assignments)
    assert set(result.assignments) == kept | set(result.added)
    got_before, got_after = counts(before), counts(result)
    for a in {d.author for d in dropped}:
        # Anyone eligible, still in the pool and not yet reviewing ``a`` could step in.
        free = [
            r
            for r in c.pool
            if r not in (gone, a)
            and not c.mates(r, a)
            and Assignment(r, a) not in set(before.assignments)
        ]
        assert got_after[a] == got_before[a] - 1 + min(1, len(free))
    for x in result.added:
        assert x.reviewer != x.author and not c.mates(x.reviewer, x.author)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("seed", [13817, 2, 22])
def test_swapping_out_repeats_never_adds_a_review(seed: int) -> None:
    c = replace(_MOVED_REPEAT, seed=seed)
    result = c.run()
    assert counts(result) == {100: 4, 101: 4, 102: 4}
    assert sorted(result.loads.values()) == [1, 1, 2, 2, 2, 2, 2]
    assert result.balanced


def test_a_single_submitter_gets_nobody_and_is_told_why() -> None:
    result = allocate([7], k=3)
    assert result.assignments == ()
    (short,) = result.shortfalls
    assert (short.author, short.missing, short.eligible) == (7, 3, 0)
    assert "cannot review themself" in short.reason
    assert result.notes and "3 review(s) short" in result.notes[0]


def test_k_plus_one_submitters_review_everyone_else() -> None:
    result = allocate([1, 2, 3, 4], k=3, seed=5)
    assert result.complete
    assert len(result.assignments) == 12
    for a in (1, 2, 3, 4):
        assert result.reviewers_of(a) == tuple(x for x in (1, 2, 3, 4) if x != a)
    assert dict(result.loads) == {1: 3, 2: 3, 3: 3, 4: 3}


def test_k_larger_than_the_cohort_allows_is_reported_per_submission() -> None:
    result = allocate([1, 2, 3], k=5)
    assert len(result.assignments) == 6
    assert [(s.author, s.assigned, s.missing) for s in result.shortfalls] == [
        (1, 2, 3),
        (2, 2, 3),
        (3, 2, 3),
    ]
    assert all("only 2 are eligible" in s.reason for s in result.shortfalls)


def test_one_big_group_leaves_its_members_short_and_the_outsiders_loaded() -> None:
    groups = {p: 1 for p in range(8)} | {8: 2, 9: 3}
    result = allocate(range(10), k=3, groups=groups, seed=11)
    short = {s.author: s for s in result.shortfalls}
    assert set(short) == set(range(8))
    for s in short.values():
        assert (s.assigned, s.missing, s.eligible) == (2, 1, 2)
        assert "7 share the author's study group" in s.reason
    assert set(result.reviewers_of(0)) == {8, 9}
    assert len(result.reviewers_of(8)) == 3 and len(result.reviewers_of(9)) == 3
    assert result.loads[8] == result.loads[9] == 8
    assert not result.balanced
    assert any("loads range from 0 to 8" in n for n in result.notes)


def test_people_in_several_groups_are_kept_apart_from_all_of_them() -> None:
    groups: dict[int, int | list[int]] = {1: [10, 20], 2: 10, 3: 20, 4: 30, 5: 30, 6: 40}
    result = allocate(range(1, 7), k=2, groups=groups, seed=1)
    for x in result.assignments:
        assert {x.reviewer, x.author} not in ({1, 2}, {1, 3}, {4, 5})
    assert result.complete


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 25),
    k=st.integers(1, 4),
    memberships=st.lists(st.lists(st.integers(0, 5), max_size=3), min_size=25, max_size=25),
    seed=st.integers(0, 2**32),
)
def test_people_in_overlapping_groups_never_review_anyone_they_share_one_with(
    n: int, k: int, memberships: list[list[int]], seed: int
) -> None:
    """Overlapping group sets, and people in none: the check cannot compare one key each."""
    people = list(range(n))
    groups: dict[int, int | list[int]] = {p: memberships[p] for p in people}
    result = allocate(people, k=k, groups=groups, seed=seed)
    for x in result.assignments:
        assert x.reviewer != x.author
        assert not set(memberships[x.reviewer]) & set(memberships[x.author])
        assert barred(x.reviewer, x.author, groups=groups) is None
    for short in result.shortfalls:
        mates = {p for p in people if set(memberships[p]) & set(memberships[short.author])}
        assert short.eligible == n - len(mates | {short.author})


@settings(max_examples=100, deadline=None)
@given(c=cohorts(max_n=12))
def test_repeats_reported_are_exactly_the_new_pairs_from_the_history(c: Cohort) -> None:
    result = c.run()
    expected = sorted(x for x in result.added if (x.reviewer, x.author) in set(c.history))
    assert list(result.repeats) == expected


def test_repeats_are_used_when_nothing_else_gives_full_coverage() -> None:
    everyone = [(r, a) for r in range(4) for a in range(4) if r != a]
    result = allocate(range(4), k=3, history=everyone)
    assert result.complete
    assert len(result.repeats) == 12
    assert any("repeat an earlier exercise" in n for n in result.notes)


def test_kept_pairs_are_never_changed_even_if_the_rules_would_now_forbid_them() -> None:
    existing = [Assignment(1, 2)]  # 1 and 2 have since joined the same group
    result = allocate(range(1, 7), k=2, groups={1: 5, 2: 5}, existing=existing, seed=3)
    assert Assignment(1, 2) in result.assignments
    assert Assignment(1, 2) not in result.added
    assert len(result.reviewers_of(2)) == 2


def test_a_dropped_pair_with_nobody_free_to_step_in_is_reported() -> None:
    full = allocate([1, 2, 3, 4], k=3)
    result = reassign(full.assignments, [Assignment(1, 2)], seed=2)
    assert Assignment(1, 2) not in result.assignments
    (short,) = result.shortfalls
    assert (short.author, short.missing) == (2, 1)
    assert "1 were dropped" in short.reason


def test_missed_deadline_reviewer_is_replaced_by_the_least_loaded_eligible_one() -> None:
    base = allocate(range(20), k=3, seed=4)
    drop = base.assignments[0]
    result = reassign(base.assignments, [drop], seed=4)
    (new,) = result.added
    assert new.author == drop.author and new.reviewer != drop.reviewer
    assert result.loads[new.reviewer] == 4
    assert result.complete


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        allocate([1, 2, 3], k=0)


def test_different_seeds_give_different_allocations() -> None:
    assert allocate(range(30), seed=1).assignments != allocate(range(30), seed=2).assignments


def test_a_pair_that_ended_earlier_is_never_proposed_again() -> None:
    """The least-loaded reviewer is often the one a review was taken from: ``forbid`` keeps
    that pair out, so the dropped review goes to someone else instead of nowhere."""
    base = allocate(range(11), k=3, seed=5)
    moved = base.assignments[0]  # taken away from its reviewer earlier, given to a spare one
    current = [a for a in base.assignments if a != moved]
    taker = next(
        r for r in range(11) if r not in base.reviewers_of(moved.author) and r != moved.author
    )
    current.append(Assignment(taker, moved.author))
    result = reassign(
        current, [Assignment(taker, moved.author)], exclude=[taker], forbid=[moved], seed=5
    )
    (new,) = result.added
    assert new.author == moved.author and new.reviewer not in (moved.reviewer, taker)
    assert result.complete
    late = allocate_late([moved.author], [], k=10, reviewers=range(11), forbid=[moved])
    assert moved.reviewer not in late.reviewers_of(moved.author)
    assert late.shortfalls[0].reason.endswith("1 were dropped from this submission")


def test_a_pair_named_by_hand_is_checked_against_the_same_rules() -> None:
    assert barred(1, 1) == "self"
    assert barred(1, 2, taken=[Assignment(1, 2)]) == "pair"
    assert barred(1, 2, groups={1: 7, 2: [7, 8]}) == "group"
    assert barred(1, 2, groups={1: 7, 2: 8}, taken=[(2, 1)]) is None

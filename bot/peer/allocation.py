"""Reviewer allocation for peer-assessed exercises.

Hard rules: nobody reviews themself, nobody reviews a member of one of their own study groups
(when groups are given), no pair appears twice (``forbid`` names pairs that existed once and
ended, e.g. a review taken away from someone: never proposed again), and kept assignments are
never touched. Goals,
in priority order: every submission gets ``k`` reviewers; reviewer loads differ by at most one;
few reviewer -> author pairs repeat an earlier exercise of the module (soft: a repeat is used
only when nothing else gives full coverage and even loads).

How: a seeded round-robin over the reviewers gives near-perfect balance in one pass; pairs it
gets wrong (self, same group, repeats) are dropped and refilled through augmenting paths
(a reviewer with spare capacity takes a submission from a reviewer who can take the orphan),
then loads are evened by load-reducing paths. With no such path left the result is the best
the constraints allow, and the report says what is missing and why.

Everything is pure and deterministic for a given seed: inputs are sorted before the seeded
shuffle, so the caller's ordering never changes the outcome.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from types import MappingProxyType

from bot.peer.allocation_rules import (
    EMPTY,
    Groups,
    GroupsArg,
    PairsArg,
    allowed,
    barred,
    by_author,
    pairs,
    why_short,
)

__all__ = [
    "AllocationResult",
    "Assignment",
    "Shortfall",
    "allocate",
    "allocate_late",
    "barred",
    "reassign",
]

# How many target reviewers the search tries for each author it meets before queueing that
# author: enough to finish most searches one step early, few enough to stay cheap when the
# targets are many but all barred (e.g. every spare reviewer is in the author's group).
_LOOKAHEAD = 8


@dataclass(frozen=True, slots=True, order=True)
class Assignment:
    """One pairing: ``reviewer`` reviews ``author``'s submission (person ids)."""

    reviewer: int
    author: int


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A submission left with fewer reviewers than wanted, and the arithmetic of why."""

    author: int
    wanted: int
    assigned: int
    eligible: int
    reason: str

    @property
    def missing(self) -> int:
        return self.wanted - self.assigned


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """Everything the service stores and the tutor is told.

    ``assignments`` holds kept and added pairs; ``loads`` counts reviews per reviewer in the
    pool (zero included), so the spread is what each eligible reviewer actually carries.
    """

    k: int
    assignments: tuple[Assignment, ...]
    added: tuple[Assignment, ...]
    loads: Mapping[int, int]
    shortfalls: tuple[Shortfall, ...]
    repeats: tuple[Assignment, ...]
    notes: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.shortfalls

    @property
    def min_load(self) -> int:
        return min(self.loads.values(), default=0)

    @property
    def max_load(self) -> int:
        return max(self.loads.values(), default=0)

    @property
    def load_spread(self) -> int:
        return self.max_load - self.min_load

    @property
    def balanced(self) -> bool:
        return self.load_spread <= 1

    def reviewers_of(self, author: int) -> tuple[int, ...]:
        return tuple(sorted(a.reviewer for a in self.assignments if a.author == author))

    def authors_for(self, reviewer: int) -> tuple[int, ...]:
        return tuple(sorted(a.author for a in self.assignments if a.reviewer == reviewer))


# --------------------------------------------------------------------------- public API


def allocate(
    authors: Iterable[int],
    *,
    k: int = 3,
    reviewers: Iterable[int] | None = None,
    groups: GroupsArg | None = None,
    history: PairsArg = (),
    existing: PairsArg = (),
    forbid: PairsArg = (),
    seed: int = 0,
) -> AllocationResult:
    """Give every author's submission ``k`` reviewers (counting kept ``existing`` pairs).

    ``reviewers`` is the eligible pool; by default the submitters as far as this call can see
    them: the authors plus everyone in ``existing`` (pass it explicitly when in doubt).
    ``groups`` maps a person to their study group id(s): when given, nobody reviews a
    group-mate. ``history`` holds earlier exercises' pairs, to avoid repeating. ``existing``
    pairs are kept untouched (incremental allocation); ``forbid`` pairs are never proposed.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    author_set = set(authors)
    kept = pairs(existing)
    if reviewers is None:
        pool = author_set | {a for _, a in kept} | {r for r, _ in kept}
    else:
        pool = set(reviewers)
    engine = _Allocator(
        pool=pool,
        groups=groups,
        history=pairs(history),
        locked=kept,
        forbidden=pairs(forbid) - kept,
        seed=seed,
    )
    wanted = dict.fromkeys(author_set, k)
    need = {a: max(0, k - len(engine.rev_of.get(a, ()))) for a in author_set}
    return engine.run(need, wanted, k)


def allocate_late(
    new_authors: Iterable[int],
    existing: PairsArg,
    *,
    k: int = 3,
    reviewers: Iterable[int] | None = None,
    groups: GroupsArg | None = None,
    history: PairsArg = (),
    forbid: PairsArg = (),
    seed: int = 0,
) -> AllocationResult:
    """Give submissions accepted late ``k`` reviewers from spare capacity.

    Existing pairs are never changed; the new reviews go to the least-loaded eligible
    reviewers, so loads stay as even as the kept pairs allow. Late submitters in the pool
    review each other where they can; none of them is given an on-time submission (that
    would exceed its k). Pass ``reviewers`` (all submitters) explicitly: the default only
    sees people in ``existing`` and the new authors.
    """
    return allocate(
        new_authors,
        k=k,
        reviewers=reviewers,
        groups=groups,
        history=history,
        existing=existing,
        forbid=forbid,
        seed=seed,
    )


def reassign(
    current: PairsArg,
    drop: PairsArg,
    *,
    reviewers: Iterable[int] | None = None,
    exclude: Iterable[int] = (),
    groups: GroupsArg | None = None,
    history: PairsArg = (),
    forbid: PairsArg = (),
    seed: int = 0,
) -> AllocationResult:
    """Replace dropped pairs (reviewer left, or missed the deadline) from spare capacity.

    Every other current pair is kept as is; a dropped pair is never proposed again, and
    ``exclude`` (e.g. someone who left) takes reviewers out of the pool, and ``forbid`` pairs
    (ended earlier) are never proposed. The pool defaults to the authors of ``current``.
    """
    cur = pairs(current)
    dropped = pairs(drop) & cur
    kept = cur - dropped
    authors = {a for _, a in cur}
    pool = set(reviewers) if reviewers is not None else set(authors)
    pool -= set(exclude)
    engine = _Allocator(
        pool=pool,
        groups=groups,
        history=pairs(history),
        locked=kept,
        forbidden=set(dropped) | (pairs(forbid) - kept),
        seed=seed,
    )
    wanted: dict[int, int] = {}
    for _, a in cur:
        wanted[a] = wanted.get(a, 0) + 1
    need = {a: 0 for a in authors}
    for _, a in dropped:
        need[a] += 1
    k = max(wanted.values(), default=0)
    return engine.run(need, wanted, k)


# --------------------------------------------------------------------------- internals


class _Memo:
    """Reviewers a failed search found unable to lead to a target, and the compacted
    candidate lists without them; valid until the next successful move."""

    def __init__(self) -> None:
        self.dead: set[int] = set()
        self.live: dict[int, list[int]] = {}

    def reset(self) -> None:
        if self.dead or self.live:
            self.dead = set()
            self.live = {}


class _Allocator:
    """Mutable working state of one allocation; discarded once the result is built."""

    def __init__(
        self,
        *,
        pool: set[int],
        groups: GroupsArg | None,
        history: set[tuple[int, int]],
        locked: set[tuple[int, int]],
        forbidden: set[tuple[int, int]],
        seed: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.pool_set = pool
        self.sorted_pool = sorted(pool)
        self.pool: list[int] = list(self.sorted_pool)
        self.rng.shuffle(self.pool)
        self.groups = Groups(groups)
        self.history = history
        self.repeating = False  # set once a search allowing repeats moved pairs
        # Forbidden pairs by author: one author's set looked up once for many reviewers.
        self.forbidden = by_author(forbidden)
        self.forbidden_pairs = forbidden
        self.locked = locked
        self.rev_of: dict[int, set[int]] = {}
        self.auth_of: dict[int, set[int]] = {r: set() for r in self.pool}
        for r, a in sorted(locked):  # sorted: set order must not depend on input order
            self.rev_of.setdefault(a, set()).add(r)
            self.auth_of.setdefault(r, set()).add(a)
        # The pool's author sets in pool order: loads in bulk are ``map(len, ...)``.
        self.pool_authors = [self.auth_of[r] for r in self.pool]
        self.need: dict[int, int] = {}
        self.cap: dict[int, int] = {}
        # Reviewers bucketed by their group set: a search skips a whole same-group bucket at
        # once instead of rejecting its members one by one.
        by_key: dict[frozenset[int], list[int]] = {}
        for r in self.pool:
            by_key.setdefault(self.groups.sets.get(r, EMPTY), []).append(r)
        self.buckets: list[tuple[frozenset[int], list[int]]] = list(by_key.items())
        self.pool_by_group: dict[int, set[int]] = {}
        for key, members in self.buckets:
            for g in key:
                self.pool_by_group.setdefault(g, set()).update(members)

    # ---- basic predicates

    def load(self, r: int) -> int:
        return len(self.auth_of[r])

    def loads(self) -> list[int]:
        """Every pool member's load, in pool order."""
        return list(map(len, self.pool_authors))

    def eligible(self, r: int, a: int) -> bool:
        """Allowed at all (ignores what is already assigned and the soft history rule)."""
        return (
            r != a
            and r in self.pool_set
            and r not in self.forbidden.get(a, EMPTY)
            and not self.groups.same(r, a)
        )

    def can_take(self, r: int, a: int, allow_repeat: bool) -> bool:
        """The rules for one pair; the first pass applies them to many at once (``allowed``)."""
        return (
            r != a
            and r not in self.rev_of.get(a, EMPTY)
            and r not in self.forbidden.get(a, EMPTY)
            and (allow_repeat or (r, a) not in self.history)
            and not self.groups.same(r, a)
        )

    def _add(self, r: int, a: int) -> None:
        self.rev_of.setdefault(a, set()).add(r)
        self.auth_of[r].add(a)

    def _remove(self, r: int, a: int) -> None:
        self.rev_of[a].discard(r)
        self.auth_of[r].discard(a)

    def repeats(self) -> list[tuple[int, int]]:
        """The added pairs that repeat an earlier exercise, sorted."""
        if not self.repeating:
            return []
        now = self.auth_of
        return sorted(p for p in self.history if p[1] in now.get(p[0], ()) and p not in self.locked)

    # ---- eligibility arithmetic, for "fillable?" and the report

    def exclusions(self, a: int) -> tuple[int, int, int, int]:
        """(eligible, excluded as self, excluded as group-mates, excluded as dropped)."""
        me = 1 if a in self.pool_set else 0
        mates: set[int] = set()
        for g in self.groups.sets.get(a, EMPTY):
            mates |= self.pool_by_group.get(g, set())
        mates.discard(a)
        dropped = sum(
            1
            for r in self.forbidden.get(a, EMPTY)
            if r in self.pool_set and r != a and r not in mates
        )
        eligible = len(self.pool) - me - len(mates) - dropped
        return eligible, me, len(mates), dropped

    def available(self, a: int, eligible_count: int) -> int:
        have = sum(1 for r in self.rev_of.get(a, ()) if self.eligible(r, a))
        return eligible_count - have

    # ---- capacities: water-filling the new reviews onto the least-loaded useful reviewers

    def _useful(self, needy: list[int]) -> list[int]:
        """The pool members eligible for at least one needy author, in pool order. A reviewer
        is barred from at most ``blockers`` authors (themself, group-mates, forbidden pairs),
        the same number for their whole bucket: with more needy, the bucket is useful."""
        useful: list[int] = []
        surely: dict[frozenset[int], bool] = {}
        for key, _ in self.buckets:
            blockers = 1 + len(self.forbidden_pairs)
            for g in key:
                blockers += len(self.pool_by_group.get(g, ()))
            surely[key] = len(needy) > blockers
        if all(surely.values()):
            return list(self.pool)
        for r in self.pool:
            if surely[self.groups.sets.get(r, EMPTY)] or any(self.eligible(r, a) for a in needy):
                useful.append(r)
        return useful

    def _set_caps(self, demand: int, needy: list[int]) -> None:
        useful = self._useful(needy)
        now = dict(zip(self.pool, self.loads(), strict=True))
        self.cap = dict(now)
        if demand <= 0 or not useful:
            return
        base = Counter(now[r] for r in useful)

        def room(level: int) -> int:
            return sum(n * (level - b) for b, n in base.items() if b < level)

        lo, hi = min(base), min(base) + demand + 1
        while lo < hi:  # smallest level whose room covers the demand
            mid = (lo + hi) // 2
            if room(mid) >= demand:
                hi = mid
            else:
                lo = mid + 1
        level = lo
        for r in useful:
            self.cap[r] = max(now[r], level - 1)
        left = demand - room(level - 1)
        topped = [r for r in useful if now[r] <= level - 1]
        self.rng.shuffle(topped)
        for r in topped[:left]:
            self.cap[r] = level

    # ---- the first pass: seeded round-robin

    def _initial(self, authors: list[int]) -> None:
        spare = [(r, self.cap[r] - n) for r, n in zip(self.pool, self.loads(), strict=True)]
        depth = max((n for _, n in spare), default=0)
        # Each round of the round-robin in its own seeded order: a submission's reviewers are
        # then a fresh mix each time, and the exercise's reviews form one connected web. With
        # one order for every round, k reviewers would share the same k submissions in closed
        # blocks, where a reviewer's generosity cannot be told from the work's quality.
        slots: list[int] = []
        for j in range(depth):
            row = [r for r, n in spare if n > j]
            self.rng.shuffle(row)
            slots += row
        # Each author uses ``need[a]`` slots in turn, whether the rules let them take it or not.
        owner = list(chain.from_iterable(repeat(a, self.need[a]) for a in authors))
        del owner[len(slots) :]
        rules = (self.locked, self.forbidden_pairs, self.history)
        found = allowed(slots[: len(owner)], owner, groups=self.groups, barred=rules)
        rev_of, auth_of = self.rev_of, self.auth_of
        for a in authors:
            rev_of.setdefault(a, set())
        for r, a in found:
            rev_of[a].add(r)
            auth_of[r].add(a)
        for a, n in Counter(a for _, a in found).items():
            self.need[a] -= n

    # ---- augmenting paths

    def _candidates(
        self,
        a: int,
        visited: set[int],
        allow_repeat: bool,
        dead: set[int],
        live: dict[int, list[int]],
        start: int,
    ) -> Iterator[int]:
        ga = self.groups.sets.get(a)
        nb = len(self.buckets)
        for j in range(nb):
            bi = (start + j) % nb
            key, members = self.buckets[bi]
            if ga is not None and not key.isdisjoint(ga):
                continue
            current = live.get(bi, members)
            if not current:
                continue
            kept: list[int] = []
            for r in current:
                if r in visited or r in dead:
                    continue
                if self.can_take(r, a, allow_repeat):
                    visited.add(r)
                    yield r
                else:
                    kept.append(r)
            live[bi] = kept

    def augment(
        self,
        sources: Sequence[tuple[int, int | None]],
        is_target: Callable[[int], bool],
        targets: Sequence[int],
        allow_repeat: bool,
        blocked: Collection[int] = (),
        memo: _Memo | None = None,
    ) -> int | None:
        """Find a chain of moves giving a source author one more reviewer; apply it.

        A source is (author, giver): giver None means the author is short of a reviewer,
        otherwise the giver sheds that pair. The chain ends at a target reviewer, who gains
        one review; reviewers in the middle keep their load. Returns the target, or None.

        ``memo`` carries what failed searches proved unreachable to the next search with the
        same (or a narrower) target set, until a success changes the pairs.
        """
        memo = memo or _Memo()
        dead = memo.dead
        visited: set[int] = set(blocked)
        took: dict[int, int] = {}
        gave: dict[int, int | None] = {}
        queue: deque[int] = deque()
        start = self.rng.randrange(len(self.buckets)) if self.buckets else 0
        offset = self.rng.randrange(len(targets)) if targets else 0
        tries = min(len(targets), _LOOKAHEAD)

        barred: set[frozenset[int]] = set()

        def look(a: int) -> int | None:
            ga = self.groups.sets.get(a)
            if ga is not None and ga in barred:
                return None
            all_mates = True
            for i in range(offset, offset + tries):
                s = targets[i % len(targets)]
                if s in visited or s in dead or not is_target(s):
                    continue
                if self.groups.same(s, a):
                    continue
                all_mates = False
                if self.can_take(s, a, allow_repeat):
                    return s
            if all_mates and ga is not None:
                barred.add(ga)  # the sampled targets are all this group's: skip its kin
            return None

        def finish(end: int) -> int:
            memo.reset()
            self.repeating |= allow_repeat
            return self._apply(end, took, gave)

        for a, giver in sources:
            if a in gave:
                continue
            gave[a] = giver
            s = look(a)
            if s is not None:
                took[s] = a
                return finish(s)
            queue.append(a)
        while queue:
            a = queue.popleft()
            for r in self._candidates(a, visited, allow_repeat, dead, memo.live, start):
                took[r] = a
                if is_target(r):
                    return finish(r)
                for a1 in self.auth_of[r]:
                    if a1 in gave or (r, a1) in self.locked:
                        continue
                    gave[a1] = r
                    s = look(a1)
                    if s is not None:
                        visited.add(s)
                        took[s] = a1
                        return finish(s)
                    queue.append(a1)
        dead |= visited
        return None

    def _apply(self, end: int, took: dict[int, int], gave: dict[int, int | None]) -> int:
        s = end
        while True:
            a = took[s]
            self._add(s, a)
            giver = gave[a]
            if giver is None:
                self.need[a] -= 1
                return end
            self._remove(giver, a)
            if giver not in took:
                return end
            s = giver

    # ---- phases

    def _fill(self, order: list[int], extra: int, allow_repeat: bool) -> None:
        def is_target(r: int) -> bool:
            return self.load(r) < self.cap[r] + extra

        spare = {r: None for r in self.pool if is_target(r)}
        memo = _Memo()
        for a in order:
            while self.need[a] > 0 and spare:
                end = self.augment([(a, None)], is_target, list(spare), allow_repeat, memo=memo)
                if end is None:
                    break
                if not is_target(end):
                    del spare[end]

    def _balance(self, allow_repeat: bool) -> None:
        """Shed reviews from heavy to light reviewers until no load-reducing chain exists.

        No such chain left means the spread is the least the rules allow (the optimality
        condition of semi-matchings), which is what the report then claims. Sources go from
        heaviest down, so whatever a failed search reached stays useless for the later,
        lighter sources (their targets are a subset) until a move succeeds.
        """
        if not self.pool:
            return
        while True:
            loads = self.loads()
            lo = min(loads)
            if max(loads) < lo + 2:
                return
            progress = False
            memo = _Memo()
            # Heaviest first; equal loads in pool order (the sort is stable).
            for src in sorted(self.pool, key=lambda r: -self.load(r)):
                if self.load(src) < lo + 2:
                    break
                while self.load(src) >= lo + 2 and src not in memo.dead:
                    if self._shed(src, allow_repeat, memo):
                        progress = True
                        lo = min(self.loads())
                    else:
                        memo.dead.add(src)
            if not progress:
                return

    def _shed(self, src: int, allow_repeat: bool, memo: _Memo) -> bool:
        high = self.load(src)
        sources = [(a, src) for a in sorted(self.auth_of[src]) if (src, a) not in self.locked]
        if not sources:
            return False

        def is_target(r: int) -> bool:
            return self.load(r) <= high - 2

        below = [r for r in self.pool if is_target(r)]
        end = self.augment(sources, is_target, below, allow_repeat, blocked=(src,), memo=memo)
        return end is not None

    def _reduce_repeats(self) -> None:
        """Swap repeated pairs out through chains that leave every load as even as before.

        The list is taken once, but each chain may move later repeats out of the way: a pair
        already gone is skipped, else "putting it back" after a failed search would add a
        review the author never lost (k+1 reviewers, one reviewer a review heavier).
        """
        for r, a in self.repeats():
            if a not in self.auth_of[r]:
                continue
            level = self.load(r)
            self._remove(r, a)
            self.need[a] += 1

            def is_target(s: int, r: int = r, level: int = level) -> bool:
                return s == r or self.load(s) <= level - 1

            below = [s for s in self.pool if is_target(s)]
            if self.augment([(a, None)], is_target, below, allow_repeat=False) is None:
                self._add(r, a)
                self.need[a] -= 1

    # ---- driver

    def run(self, need: dict[int, int], wanted: dict[int, int], k: int) -> AllocationResult:
        authors = sorted(need)
        self.rng.shuffle(authors)
        self.need = dict(need)
        needy = [a for a in authors if self.need[a] > 0]
        self._set_caps(sum(self.need[a] for a in needy), needy)
        self._initial(needy)

        # Eligibility arithmetic only for the few the first pass left short.
        eligible = {a: self.exclusions(a) for a in needy if self.need[a] > 0}
        passes = (False, True) if self.history else (False,)
        extra = 0
        while True:
            open_ = [
                a for a in eligible if self.need[a] > 0 and self.available(a, eligible[a][0]) > 0
            ]
            if not open_:
                break
            for allow_repeat in passes:
                self._fill(open_, extra, allow_repeat)
            extra += 1
        for allow_repeat in passes:
            self._balance(allow_repeat)
        if self.history:
            self._reduce_repeats()
        return self._result(wanted, k, eligible)

    def _result(
        self,
        wanted: dict[int, int],
        k: int,
        eligible: dict[int, tuple[int, int, int, int]],
    ) -> AllocationResult:
        # Sorted by reviewer, then author: each reviewer's few authors sorted, not every pair.
        assignments = tuple(
            Assignment(r, a) for r in sorted(self.auth_of) for a in sorted(self.auth_of[r])
        )
        added = assignments
        if self.locked:
            added = tuple(x for x in assignments if (x.reviewer, x.author) not in self.locked)
        repeats = tuple(Assignment(r, a) for r, a in self.repeats())
        loads = {r: len(self.auth_of[r]) for r in self.sorted_pool}
        shortfalls: list[Shortfall] = []
        rev_of = self.rev_of
        for a in sorted(a for a, n in wanted.items() if len(rev_of.get(a, EMPTY)) < n):
            have = len(rev_of.get(a, EMPTY))
            info = eligible.get(a) or self.exclusions(a)
            shortfalls.append(
                Shortfall(a, wanted[a], have, info[0], why_short(wanted[a], len(self.pool), info))
            )
        notes: list[str] = []
        if shortfalls:
            missing = sum(s.missing for s in shortfalls)
            notes.append(
                f"{len(shortfalls)} submission(s) are {missing} review(s) short of {k}: "
                "there are not enough eligible reviewers."
            )
        if loads:
            lo, hi = min(loads.values()), max(loads.values())
            if hi - lo > 1:
                total = sum(loads.values())
                q, rem = divmod(total, len(loads))
                ideal = f"{q}" if rem == 0 else f"{q}-{q + 1}"
                cause = "the rules (never self, never a group-mate)"
                if self.locked:
                    cause += " and the kept assignments"
                notes.append(
                    f"Reviewer loads range from {lo} to {hi} (ideal {ideal}): the most even"
                    f" spread {cause} allow."
                )
        if repeats:
            notes.append(
                f"{len(repeats)} pair(s) repeat an earlier exercise: no allocation without "
                "them was found."
            )
        return AllocationResult(
            k=k,
            assignments=assignments,
            added=added,
            loads=MappingProxyType(loads),
            shortfalls=tuple(shortfalls),
            repeats=repeats,
            notes=tuple(notes),
        )

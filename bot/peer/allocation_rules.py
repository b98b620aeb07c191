"""The allocator's inputs as lookups built once per allocation: pairs by author, study groups
keyed by small ints.

Why: allocating 50,000 submissions checks about 150,000 candidate pairs against the rules.
Building and hashing a ``(reviewer, author)`` tuple for every check, and comparing two
frozensets for every group check, were most of its time; a set of reviewers per author and
one int per person's group set make each check a lookup.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from itertools import compress, repeat
from operator import and_, ne, not_
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.peer.allocation import Assignment

__all__ = [
    "EMPTY",
    "Groups",
    "GroupsArg",
    "PairsArg",
    "allowed",
    "barred",
    "by_author",
    "pairs",
    "why_short",
]

GroupsArg = Mapping[int, int | Iterable[int]]
PairsArg = Iterable["Assignment | tuple[int, int]"]

EMPTY: frozenset[int] = frozenset()


def _split(item: Assignment | tuple[int, int]) -> tuple[int, int]:
    if isinstance(item, tuple):
        return item[0], item[1]
    reviewer = getattr(item, "reviewer", None)
    if reviewer is None:  # another sequence of two
        return item[0], item[1]  # type: ignore[index]
    return reviewer, item.author


def pairs(items: PairsArg) -> set[tuple[int, int]]:
    """``(reviewer, author)`` pairs, from assignments or tuples."""
    return {_split(item) for item in items}


def by_author(items: PairsArg) -> dict[int, set[int]]:
    """Author -> the reviewers paired with them: "is this pair in it" without a tuple."""
    out: dict[int, set[int]] = {}
    for item in items:
        r, a = _split(item)
        revs = out.get(a)
        if revs is None:
            out[a] = {r}
        else:
            revs.add(r)
    return out


class Groups:
    """Who shares a study group with whom.

    ``sets`` maps a person to their group ids (people without one are absent). Each distinct
    group set gets a small int ``key``; when no two distinct sets overlap (everyone in one
    group, the usual case) two people share a group exactly when their keys are equal, so the
    check compares two ints; otherwise it falls back to comparing the sets.
    """

    def __init__(self, groups: GroupsArg | None) -> None:
        self.sets: dict[int, frozenset[int]] = {}
        self.key: dict[int, int] = {}
        keys: dict[frozenset[int], int] = {}
        single: dict[int, frozenset[int]] = {}
        for person, g in (groups or {}).items():
            if isinstance(g, int):
                fs = single.get(g)
                if fs is None:
                    fs = single[g] = frozenset((g,))
            else:
                fs = frozenset(g)
                if not fs:
                    continue
            self.sets[person] = fs
            key = keys.get(fs)
            if key is None:
                key = keys[fs] = len(keys)
            self.key[person] = key
        seen: set[int] = set()
        self.exclusive = True
        for fs in keys:
            if not seen.isdisjoint(fs):
                self.exclusive = False
                break
            seen |= fs

    def __bool__(self) -> bool:
        return bool(self.sets)

    def same(self, r: int, a: int) -> bool:
        """Whether ``r`` and ``a`` share a study group."""
        kr = self.key.get(r)
        if kr is None:
            return False
        ka = self.key.get(a)
        if ka is None:
            return False
        if kr == ka:
            return True
        return not self.exclusive and not self.sets[r].isdisjoint(self.sets[a])


def allowed(
    reviewers: list[int],
    authors: list[int],
    *,
    groups: Groups,
    barred: Iterable[Collection[tuple[int, int]]],
) -> list[tuple[int, int]]:
    """The pairs of two parallel lists that break no rule, in order, each once: nobody reviews
    themself or a group-mate, and no pair in any of ``barred`` (taken, forbidden, earlier).

    The allocator's first pass checks its 150,000 candidates for 50,000 submissions here:
    every lookup is made by the interpreter's own loops (``map`` over sets' ``__contains__``),
    not by a Python call per pair; a reviewer's second slot for one author is dropped.
    """
    candidates = list(zip(reviewers, authors, strict=True))
    ok: Iterable[bool] = map(ne, reviewers, authors)
    for pairs_ in barred:
        if pairs_:
            ok = map(and_, ok, map(not_, map(pairs_.__contains__, candidates)))
    if groups.sets and groups.exclusive:
        key = groups.key.get
        ok = map(and_, ok, map(ne, map(key, reviewers, repeat(-1)), map(key, authors, repeat(-2))))
    elif groups.sets:
        ok = map(and_, ok, map(not_, map(groups.same, reviewers, authors)))
    found = list(compress(candidates, ok))
    return list(dict.fromkeys(found)) if len(set(found)) < len(found) else found


def barred(
    reviewer: int, author: int, *, groups: GroupsArg | None = None, taken: PairsArg = ()
) -> str | None:
    """Which hard rule a pair a tutor names would break: ``"self"``, ``"pair"`` (it is, or
    was, in ``taken``) or ``"group"`` (group-mates, when ``groups`` is given); None if none.

    The same rules the allocator applies, for the one pair chosen by hand.
    """
    if reviewer == author:
        return "self"
    if (reviewer, author) in pairs(taken):
        return "pair"
    if Groups(groups).same(reviewer, author):
        return "group"
    return None


def why_short(wanted: int, pool: int, info: tuple[int, int, int, int]) -> str:
    """Why a submission is short: the eligibility arithmetic (eligible, self, group-mates,
    dropped) in words, for the tutor."""
    eligible, me, mates, dropped = info
    parts = [f"the pool has {pool} reviewer(s)"]
    if me:
        parts.append("the author cannot review themself")
    if mates:
        parts.append(f"{mates} share the author's study group")
    if dropped:
        parts.append(f"{dropped} were dropped from this submission")
    return f"needs {wanted} reviewer(s) but only {eligible} are eligible: " + "; ".join(parts)

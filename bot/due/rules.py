"""The rule of "when is this due for this person, and is it late?", as pure functions.

No I/O, no database, no platform: ``bot.due.store`` turns rows into these values, and every
feature asks through ``bot.due``. The rules (docs/architecture.md names this module):

- **Base due time** of an item: a prompt's close, an exercise's submission deadline, a review's
  own due time (``reviewer_due_at``: the announced review deadline; late, reassigned and
  topped-up work gets at least ``MIN_REVIEW_WINDOW`` from when it was given out), a submission
  deadline's time, a tutorial session's end (check-in closes then).
- **Extensions** exist for prompts, exercise submissions and deadlines (one item per row). The
  one that applies to a person is their **latest approved grant** (by decision time, then id),
  and only when it ends after the base due time: an extension never makes anything due
  earlier, so it never makes work late that was on time without it. A tutor can still shorten
  a running extension by granting a new, earlier one (still after the base): the latest wins.
- When a grant is approved, the person's earlier approved grants on the same item become
  **superseded** (never "denied": a denial is a refused request). Superseding is idempotent.
- **Late** means strictly after the effective due time: work at the very instant is on time.
- **Reached** means at or after a time: scheduled work (closing a prompt, allocating reviewers,
  treating a review as missed, "this session has taken place") happens once its time comes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Work given out after allocation (late, reassigned, manual, topped up) still gets this long.
MIN_REVIEW_WINDOW = timedelta(hours=48)
#: Origins of reviews given out after allocation, which get the extra time (docs/peer.md).
EXTRA_TIME_ORIGINS = ("late", "reassigned", "manual", "topup")


class ItemKind(enum.StrEnum):
    """Everything that can be due: what its base time is, and whether it can be extended."""

    PROMPT = "prompt"  # DiscussionPrompt.closes_at; extensions.prompt_id
    SUBMISSION = "submission"  # PeerExercise.submission_due_at; extensions.exercise_id
    REVIEW = "review"  # ReviewAssignment.due_at (reviewer_due_at); never extended
    DEADLINE = "deadline"  # CalendarEvent.starts_at of a submission deadline; extensions.event_id
    TUTORIAL = "tutorial"  # EventOccurrence.ends_at (check-in closes); never extended

    @property
    def extendable(self) -> bool:
        return self in _EXTENDABLE


_EXTENDABLE = frozenset({ItemKind.PROMPT, ItemKind.SUBMISSION, ItemKind.DEADLINE})


@dataclass(frozen=True, slots=True)
class Item:
    """One item and its base due time (the same for everybody)."""

    kind: ItemKind
    id: int
    due_at: datetime

    @property
    def key(self) -> tuple[ItemKind, int]:
        return (self.kind, self.id)


@dataclass(frozen=True, slots=True)
class Grant:
    """An approved extension as the rule needs it (``Extension`` rows, status approved)."""

    id: int
    person_id: int
    new_due_at: datetime
    #: When it was approved (the request time for rows without one): what "latest" means.
    decided_at: datetime

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.decided_at, self.id)


def latest(grants: Iterable[Grant]) -> Grant | None:
    """The grant decided last (ties: the higher id), whatever its time."""
    return max(grants, key=lambda g: g.order, default=None)


def applying(base: datetime, grants: Iterable[Grant]) -> Grant | None:
    """The extension that applies: the latest approved grant, if it ends after ``base``."""
    last = latest(grants)
    return last if last is not None and last.new_due_at > base else None


def effective_due(base: datetime, grants: Iterable[Grant]) -> datetime:
    """The due time for one person: their applying extension's, else the item's."""
    grant = applying(base, grants)
    return grant.new_due_at if grant is not None else base


def extended_due(base: datetime, until: datetime | None) -> datetime:
    """The due time given the end of the person's latest grant (None: no grant).

    For callers that carry that one time instead of the grants: the same rule as
    ``effective_due`` (a grant ending before the base changes nothing).
    """
    return until if until is not None and until > base else base


def is_late(at: datetime, due: datetime) -> bool:
    """Work made at ``at`` is late: strictly after ``due`` (the very instant is on time)."""
    return at > due


def reached(when: datetime, now: datetime) -> bool:
    """``when`` has come by ``now`` (at or after): scheduled work acts, a session is over."""
    return now >= when


def extends(base: datetime, new_due: datetime) -> bool:
    """A grant must end after the time it extends, or it would change nothing."""
    return new_due > base


def superseded(grants: Iterable[Grant]) -> frozenset[int]:
    """The ids of approved grants that a later one replaced: all but the latest.

    Idempotent: what remains after superseding them supersedes nothing more.
    """
    items = list(grants)
    last = latest(items)
    return frozenset(g.id for g in items if last is not None and g.id != last.id)


def reviewer_due_at(told: datetime, origin: str, assigned_at: datetime) -> datetime:
    """When one review is due (its base time): the announced review deadline ``told``.

    Late, reassigned and topped-up work (and a review given out only after ``told`` had
    passed: nobody can review in no time) gets at least ``MIN_REVIEW_WINDOW`` from when it
    was given out.
    """
    if origin in EXTRA_TIME_ORIGINS or assigned_at >= told:
        return max(told, assigned_at + MIN_REVIEW_WINDOW)
    return told


@dataclass(frozen=True, slots=True)
class Due:
    """The answer for one item and one person."""

    item: Item
    person_id: int
    #: The person's effective due time.
    due_at: datetime
    #: The extension that applies, if any.
    extension: Grant | None

    @property
    def base(self) -> datetime:
        return self.item.due_at

    @property
    def extended(self) -> bool:
        return self.extension is not None

    def late(self, at: datetime) -> bool:
        return is_late(at, self.due_at)

    def extension_running(self, now: datetime) -> bool:
        """An extension that has not ended yet: the gradebook leaves the item out until then."""
        return self.extension is not None and now < self.due_at


def due(item: Item, person_id: int, grants: Iterable[Grant]) -> Due:
    """The answer for one person from their approved grants on this item."""
    grant = applying(item.due_at, grants)
    return Due(item, person_id, grant.new_due_at if grant else item.due_at, grant)

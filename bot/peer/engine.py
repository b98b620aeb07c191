"""The peer steps shared by commands (``service``) and scheduled work (``jobs``).

The code lives in ``policy`` (due times, rounding), ``reads``, ``assigning``, ``results``,
``allocating`` and ``notices``; this module keeps the old import path ``bot.peer.engine``.
"""

from __future__ import annotations

from bot.peer.allocating import (
    AllocationSummary,
    Filled,
    allocate_exercise,
    allocate_late_author,
    fill_short,
    lock_exercise,
    short_authors,
)
from bot.peer.assigning import Reassigned, add_assignments, describe_reassignment, reassign_reviews
from bot.peer.notices import cancel_requests, enqueue_withdrawn, tell_tutors
from bot.peer.policy import (
    ACTIVE,
    EXTRA_TIME_ORIGINS,
    GONE,
    MIN_REVIEW_WINDOW,
    REASSIGNABLE_ORIGINS,
    REVIEW_BUTTON,
    dec,
    due_of,
    review_custom_id,
    reviewer_due_at,
    tenth,
)
from bot.peer.reads import (
    Rules,
    assignments,
    current_submissions,
    ended_pairs,
    gone_reviewers,
    groups_of,
    history_pairs,
    module_of,
    module_people,
    names_of,
    rules_for,
    tutors_to_tell,
)
from bot.peer.results import ReviewerInfo, final_mark, recompute

__all__ = [
    "ACTIVE",
    "EXTRA_TIME_ORIGINS",
    "GONE",
    "MIN_REVIEW_WINDOW",
    "REASSIGNABLE_ORIGINS",
    "REVIEW_BUTTON",
    "AllocationSummary",
    "Filled",
    "Reassigned",
    "ReviewerInfo",
    "Rules",
    "add_assignments",
    "allocate_exercise",
    "allocate_late_author",
    "assignments",
    "cancel_requests",
    "current_submissions",
    "dec",
    "describe_reassignment",
    "due_of",
    "ended_pairs",
    "enqueue_withdrawn",
    "fill_short",
    "final_mark",
    "gone_reviewers",
    "groups_of",
    "history_pairs",
    "lock_exercise",
    "module_of",
    "module_people",
    "names_of",
    "reassign_reviews",
    "recompute",
    "review_custom_id",
    "reviewer_due_at",
    "rules_for",
    "short_authors",
    "tell_tutors",
    "tenth",
    "tutors_to_tell",
]

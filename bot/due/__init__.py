"""When is an item due for a person, is their work late, and which extension applies.

The one place that answers it for every kind of item (a discussion prompt, a peer exercise's
submission and its reviews, a submission deadline, a tutorial session). Every feature asks
here; ``tests/unit/test_one_due_rule.py`` fails if any other module in ``bot/`` compares a time
with an item's close/due time in Python.

- ``rules`` (pure): ``ItemKind``, ``Item`` (an item and its base due time), ``Grant`` (an approved
  extension), ``Due`` (the answer for one person), and the rule: ``applying`` /
  ``effective_due`` (the latest approved grant, when it ends after the base), ``is_late``
  (strictly after), ``reached`` (at or after: scheduled work), ``extends``, ``superseded``,
  ``reviewer_due_at``.
- ``store``: ``prompt_item`` / ``submission_item`` / ``review_item`` / ``deadline_item`` /
  ``tutorial_item`` (an item from its row), ``load_grants`` (one query for many items and
  people; ``load_grants_sync`` for the writer process), ``due_for`` (one item, one person),
  ``grant`` (approve an extension now and supersede the earlier ones), ``grant_later`` (the
  tutor's grant: refused with the feature's wording unless it ends after the item's due time,
  then ``grant``), ``supersede``.
- ``eligibility``: who may be given an extension (``extension_student``, ``require_eligible``:
  an active student of the module; withdrawn students are refused) and the reason it records
  (``clean_reason``: required, whitespace folded, at most ``REASON_MAX`` characters; one
  refusal sentence, ``REASON_REFUSAL``). Every extension command asks here.
- ``handins``: ``HAND_INS``, the items a person hands work in for (prompts, exercises) and the
  rows that hand it in, as tables, for features that count what was handed in or missed.

**Scheduling is not lateness.** A SQL filter on a model's class attribute that selects work
whose time has come (``DiscussionPrompt.closes_at <= now``: "which prompts close now",
``PeerExercise.submission_due_at <= now``: "which exercises to allocate") is a query the
database answers, not a judgement about a person's work; such class-attribute expressions are
allowed anywhere, and the rule test ignores them. The Python decision made on a loaded row
("is this prompt still open?", "is this review missed?") goes through ``reached`` or
``is_late`` here, so the boundary (at the instant: reached, not late) is written once.
"""

from __future__ import annotations

from bot.due.eligibility import (
    REASON_MAX,
    REASON_REFUSAL,
    clean_reason,
    extension_student,
    not_eligible,
    require_eligible,
)
from bot.due.handins import HAND_INS, HandIn
from bot.due.rules import (
    EXTRA_TIME_ORIGINS,
    MIN_REVIEW_WINDOW,
    Due,
    Grant,
    Item,
    ItemKind,
    applying,
    due,
    effective_due,
    extended_due,
    extends,
    is_late,
    latest,
    reached,
    reviewer_due_at,
    superseded,
)
from bot.due.store import (
    COLUMN,
    Granted,
    Grants,
    deadline_item,
    due_for,
    grant,
    grant_later,
    grants_query,
    load_grants,
    load_grants_sync,
    prompt_item,
    review_item,
    submission_item,
    supersede,
    tutorial_item,
)

__all__ = [
    "COLUMN",
    "EXTRA_TIME_ORIGINS",
    "HAND_INS",
    "MIN_REVIEW_WINDOW",
    "REASON_MAX",
    "REASON_REFUSAL",
    "Due",
    "Grant",
    "Granted",
    "Grants",
    "HandIn",
    "Item",
    "ItemKind",
    "applying",
    "clean_reason",
    "deadline_item",
    "due",
    "due_for",
    "effective_due",
    "extended_due",
    "extends",
    "extension_student",
    "grant",
    "grant_later",
    "grants_query",
    "is_late",
    "latest",
    "load_grants",
    "load_grants_sync",
    "not_eligible",
    "prompt_item",
    "reached",
    "require_eligible",
    "review_item",
    "reviewer_due_at",
    "submission_item",
    "supersede",
    "superseded",
    "tutorial_item",
]

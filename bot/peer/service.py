"""Peer-assessed exercises: what tutors and students ask for, checked against the roster.

Each function runs inside the caller's transaction (one command = one transaction): it checks
the caller's role first, refuses bad input with one sentence (``UserError``) before changing
anything, and enqueues the messages its change causes in the outbox (delivered after commit).
Times come from the bot's clock (``now``), never from the system clock.

The code lives in one module per part: ``exercises`` (set-up), ``submissions`` (with
``lateness``), ``reviews``, ``tutor`` (allocate, status, reassign, top up, moderate),
``release``, ``departures``; messages are composed in ``notices``. This module keeps the old
import path ``bot.peer.service``.
"""

from __future__ import annotations

from bot.peer.common import MAX_BRIEF, MAX_COMMENT, MAX_FILE_BYTES, MAX_LINK, MAX_TEXT, MAX_TITLE
from bot.peer.departures import departed_while_away, member_left
from bot.peer.exercises import CreatedExercise, create_exercise
from bot.peer.notices import feedback_delivery
from bot.peer.release import release
from bot.peer.reviews import ReviewForm, ReviewSaved, review_form, submit_review
from bot.peer.submissions import FileInput, Receipt, submit
from bot.peer.tutor import (
    StatusReport,
    StudentLine,
    allocate_now,
    exercise_status,
    moderate,
    reassign_reviewer,
    top_up,
)

__all__ = [
    "MAX_BRIEF",
    "MAX_COMMENT",
    "MAX_FILE_BYTES",
    "MAX_LINK",
    "MAX_TEXT",
    "MAX_TITLE",
    "CreatedExercise",
    "FileInput",
    "Receipt",
    "ReviewForm",
    "ReviewSaved",
    "StatusReport",
    "StudentLine",
    "allocate_now",
    "create_exercise",
    "departed_while_away",
    "exercise_status",
    "feedback_delivery",
    "member_left",
    "moderate",
    "reassign_reviewer",
    "release",
    "review_form",
    "submit",
    "submit_review",
    "top_up",
]

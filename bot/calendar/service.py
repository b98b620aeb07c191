"""Tutorials and assessment deadlines: what tutors and students do, as plain service calls.

Every function takes the command's session (one transaction: a refusal rolls everything back),
the resolved caller and ``now`` from the bot's clock, checks the caller's role against the
roster *before* changing anything, and schedules whatever must be said later as notice rows
(``bot.calendar.planning``) for the engine to deliver exactly once. Nothing here talks to the
chat platform: even "tell the student now" is a notice due now.

The calls live in one module per part (``tutorials``, ``attendance``, ``deadlines``,
``extensions``); this facade keeps ``bot.calendar.service.<name>`` working for the cogs and tests.
"""

from __future__ import annotations

from bot.calendar.attendance import (
    CHECKIN_EARLY,
    AttendanceReport,
    CheckInResult,
    RsvpResult,
    attendance,
    check_in,
    rsvp,
)
from bot.calendar.deadlines import (
    DEADLINE_KINDS,
    DeadlineCreated,
    FeedbackReleased,
    add_deadline,
    announce_feedback,
    feedback_released,
)
from bot.calendar.extensions import (
    ExtensionResult,
    PendingRequest,
    PendingRequests,
    RequestResult,
    decide_extension,
    effective_due,
    grant_extension,
    is_late,
    notices_delivery,
    pending_requests,
    request_extension,
)
from bot.calendar.tutorials import (
    MAX_TUTORIAL_LENGTH,
    TutorialChanged,
    TutorialCreated,
    add_tutorial,
    cancel_tutorial,
    gap_note,
    move_tutorial,
)

__all__ = [
    "CHECKIN_EARLY",
    "DEADLINE_KINDS",
    "MAX_TUTORIAL_LENGTH",
    "AttendanceReport",
    "CheckInResult",
    "DeadlineCreated",
    "ExtensionResult",
    "FeedbackReleased",
    "PendingRequest",
    "PendingRequests",
    "RequestResult",
    "RsvpResult",
    "TutorialChanged",
    "TutorialCreated",
    "add_deadline",
    "add_tutorial",
    "announce_feedback",
    "attendance",
    "cancel_tutorial",
    "check_in",
    "decide_extension",
    "effective_due",
    "feedback_released",
    "gap_note",
    "grant_extension",
    "is_late",
    "move_tutorial",
    "notices_delivery",
    "pending_requests",
    "request_extension",
    "rsvp",
]

"""What people read: the texts of peer-exercise messages (pure: no I/O).

Everything a student receives is built here from anonymous parts only (labels such as
"Submission C", never a name, username or id of another student), so the anonymity rule has
one place to hold; the anonymity test then checks every student-visible message anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.peer.rubric import Rubric, format_score
from bot.text import DISCORD_MESSAGE_LIMIT, MARKER_ROOM, split_for_discord
from bot.timeparse import discord_timestamp

if TYPE_CHECKING:
    from bot.db.models import PeerExercise
    from bot.peer.tutor import StatusReport

__all__ = [
    "FeedbackReview",
    "announcement",
    "assignment_dm",
    "feedback_dm",
    "reminder_dm",
    "when",
]

#: Room left in a 2,000-character message for a header once the body is split.
_PART_LIMIT = 1900
#: Every part leaves room for the marker line the outbox adds to each message it sends.
MESSAGE_LIMIT = DISCORD_MESSAGE_LIMIT - MARKER_ROOM


def when(value: datetime) -> str:
    """Both readings of a moment: the reader's local date and time, and how far away."""
    return f"{discord_timestamp(value, 'F')} ({discord_timestamp(value, 'R')})"


def size_text(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def method_text(method: str) -> str:
    generosity = (
        "your peer scores with each reviewer's usual generosity or harshness allowed for, and"
        " the more consistent reviewers counting for more, as learned from {}"
    )
    return {
        "median": "the median of the peer scores",
        "mean": "the mean of the peer scores",
        "corrected": generosity.format("all the module's peer reviews"),
        "corrected_alone": generosity.format("this exercise's peer reviews"),
        "corrected_median": (
            "the median of your peer scores: the reviews gave too little evidence of your"
            " reviewers' usual generosity or harshness to correct for it"
        ),
    }.get(method, method)


def shown_method(method: str, median: Decimal | None, corrected: Decimal | None) -> str:
    """The explanation that is true for this mark: a corrected method whose correction was
    not made (too little evidence, so the corrected figure is the median) says so."""
    if method.startswith("corrected") and corrected is not None and corrected == median:
        return "corrected_median"
    return method


def announcement(exercise: PeerExercise, module_code: str, rubric: Rubric) -> list[str]:
    """The module channel's post about a new exercise, read from the exercise as stored."""
    blind = (
        "Reviews are double-blind: nobody learns who reviewed whom."
        if exercise.double_blind
        else "Reviewers see the author's name; authors never learn who reviewed them."
    )
    text = (
        f"📝 **New peer-assessed exercise #{exercise.id}: {exercise.title}** ({module_code})\n"
        f"{exercise.brief}\n\n"
        f"**Submit** with `/submit exercise:{exercise.id}` (a file, a link or text) by "
        f"{when(exercise.submission_due_at)}.\n"
        f"**Review**: you will then get {exercise.reviews_per_submission} classmates' "
        f"submissions by direct message, to review by {when(exercise.review_due_at)}. {blind}\n"
        f"**Rubric**\n{rubric.describe()}"
    )
    return split_for_discord(text, MESSAGE_LIMIT)


def assignment_dm(
    *,
    module_code: str,
    title: str,
    brief: str,
    label: str,
    author_name: str | None,
    rubric: Rubric,
    due_at: datetime,
    kind: str,
    content: str,
    file_note: str | None,
) -> list[str]:
    """The review request; the last part carries the button. ``author_name`` only when the
    exercise is not double-blind."""
    who = f"Submission {label}" + (f" by {author_name}" if author_name else "")
    head = (
        f"🔍 **Peer review for {title}** ({module_code}): **{who}**\n"
        f"Please review it by {when(due_at)}. Your review is anonymous"
        + (": the author never learns who reviewed them.\n" if author_name else ".\n")
        + f"**Brief**: {brief}\n**Rubric**\n{rubric.describe()}\n\n"
    )
    if kind == "text":
        body = f"**The submission (text)**\n{content}"
    elif kind == "link":
        body = f"**The submission (a link)**: <{content}>"
    else:
        body = f"**The submission** is the attached file{f' ({file_note})' if file_note else ''}."
    tail = "\n\nPress **Write review** when you are ready; you can change it until the deadline."
    return split_for_discord(head + body + tail, MESSAGE_LIMIT)


def reminder_dm(*, module_code: str, title: str, labels: Sequence[str], due_at: datetime) -> str:
    items = ", ".join(f"Submission {x}" for x in labels)
    n = len(labels)
    return (
        f"⏰ Reminder: {n} peer review{'s' if n != 1 else ''} for **{title}** ({module_code}) "
        f"{'are' if n != 1 else 'is'} still to do ({items}), due {when(due_at)}. Use the "
        "**Write review** button on the review request above."
    )


def withdrawn_dm(*, module_code: str, title: str, label: str, reason: str) -> str:
    why = {
        "tutor": "your tutor gave it to another reviewer",
        "missed": "its deadline passed, so it went to another reviewer",
    }.get(reason, "it went to another reviewer")
    return (
        f"ℹ️ You no longer need to review Submission {label} for **{title}** ({module_code}): {why}."
    )


@dataclass(frozen=True, slots=True)
class FeedbackReview:
    scores: dict[str, float]
    total: Decimal
    comments: str


def feedback_dm(
    *,
    module_code: str,
    title: str,
    rubric: Rubric,
    mark: Decimal | None,
    method: str,
    moderated: bool,
    penalty: Decimal,
    reviews: Sequence[FeedbackReview],
) -> list[str]:
    """The author's feedback: their mark and each review, numbered, without reviewers."""
    lines = [f"📬 **Peer feedback: {title}** ({module_code})"]
    if mark is None:
        lines.append(
            "Your submission did not receive enough peer reviews for a peer mark; your tutor "
            "will mark it."
        )
    else:
        how = "set by your tutor after moderation" if moderated else method_text(method)
        lines.append(f"Your peer mark: **{format_score(mark)} / 100** ({how}).")
        if penalty and not moderated:
            lines.append(f"A late-submission penalty of {format_score(penalty)}% is included.")
    lines.append("Marks are provisional until the exam board confirms them.")
    n = len(reviews)
    if n:
        lines.append(
            f"\nYou received {n} review{'s' if n != 1 else ''} (reviewers stay anonymous):"
        )
    for i, rv in enumerate(reviews, start=1):
        parts = " · ".join(
            f"{c.name} {format_score(rv.scores.get(c.name, 0))}/{c.high}" for c in rubric.criteria
        )
        lines.append(f"\n**Review {i}**: {parts} — {format_score(rv.total)}/100")
        comment = rv.comments.strip()
        if comment:
            lines.append("\n".join(f"> {line}" for line in comment.splitlines()))
    return split_for_discord("\n".join(lines), _PART_LIMIT)


def mark_changed_dm(*, module_code: str, title: str, mark: Decimal) -> str:
    return (
        f"✏️ Your peer mark for **{title}** ({module_code}) was moderated by your tutor: it is now "
        f"**{format_score(mark)} / 100** (provisional until the exam board confirms it)."
    )


def status_parts(report: StatusReport) -> list[str]:
    """The tutor's view of an exercise, one line per student (staff-only: names are fine)."""
    lines = list(report.header)
    if report.notes:
        lines.append("Allocation notes:")
        lines.extend(f"• {n}" for n in report.notes)
    lines.append("")
    lines.append("Student — submission · reviews done/assigned · reviews received · mark")
    for st in report.students:
        flag = f" ⚑ {st.flagged}" if st.flagged else ""
        lines.append(
            f"• {st.name} — {st.submitted} · {st.reviews_done}/{st.reviews_assigned} done"
            f" · {st.received_done}/{st.received_assigned} received · {st.result}{flag}"
        )
    return split_for_discord("\n".join(lines), MESSAGE_LIMIT)

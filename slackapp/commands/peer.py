"""``/exercise`` and ``/submit`` on Slack: peer-assessed exercises, each the same service call
and roster check as ``cogs/peer/cog.py``.

A slash command cannot carry a file on Slack: a student shares their work with the bot first
(drags it into their DM with it) and gives ``file:`` its link ("Copy link to file"); the bot
reads it from Slack with its own token, only if that student uploaded it.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bot.db.claims import claim_once
from bot.errors import UserError
from bot.peer import extensions, service
from bot.peer.render import status_parts
from bot.peer.rubric import Criterion, RubricError, parse_score
from slackapp.commands.common import member, shared_file, told_all, told_one
from slackapp.commands.gradebook import required_number
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand
from slackapp.forms import FORM_PREFIX, FormAnswer, Modal

log = logging.getLogger(__name__)


def _int(values: Mapping[str, Any], name: str, default: int) -> int:
    value = values.get(name)
    return default if value is None else int(value)


def _bool(values: Mapping[str, Any], name: str, default: bool) -> bool:
    value = values.get(name)
    return default if value is None else bool(value)


async def _maybe_member(call: Call, values: Mapping[str, Any], name: str) -> Any:
    raw = values.get(name)
    return None if raw is None else await member(call, raw)


async def create(call: Call, values: Mapping[str, Any]) -> str:
    created = await call.in_context(
        service.create_exercise,
        module_code=values["module"],
        title=values["title"],
        brief=values["brief"],
        submission_deadline=values["submission_deadline"],
        review_deadline=values["review_deadline"],
        k=_int(values, "k", 3),
        rubric=values.get("rubric"),
        double_blind=_bool(values, "double_blind", True),
        reviewers=values.get("reviewers", "submitters"),
        avoid_same_group=_bool(values, "avoid_same_group", False),
        avoid_repeat_pairs=_bool(values, "avoid_repeat_pairs", True),
        method=values.get("method", "median"),
        late_hours=_int(values, "late_hours", 0),
        late_penalty=_int(values, "late_penalty", 0),
        reminder_hours=_int(values, "reminder_hours", 24),
        agreement_weighting=_bool(values, "agreement_weighting", False),
        now=call.now,
    )
    call.services.work.wake_peer()
    return created.summary


async def status(call: Call, values: Mapping[str, Any]) -> str:
    report = await call.in_context(
        service.exercise_status, exercise_id=int(values["exercise"]), now=call.now
    )
    return "\n".join(status_parts(report))


async def allocate(call: Call, values: Mapping[str, Any]) -> str:
    summary = await call.in_context(
        service.allocate_now, exercise_id=int(values["exercise"]), now=call.now
    )
    call.services.work.wake_peer()
    text = (
        f"Allocated exercise #{summary.exercise_id}: {summary.submissions} submission(s), "
        f"{summary.reviews} review(s), {summary.min_load}-{summary.max_load} per reviewer. "
        "Reviewers get their requests by DM."
    )
    if summary.notes:
        text += "\nCould not satisfy everything:\n" + "\n".join(f"• {n}" for n in summary.notes)
    return text


async def reassign(call: Call, values: Mapping[str, Any]) -> str:
    text = await call.in_context(
        service.reassign_reviewer,
        exercise_id=int(values["exercise"]),
        reviewer=await member(call, values["reviewer"]),
        author=await _maybe_member(call, values, "author"),
        to=await _maybe_member(call, values, "to"),
        now=call.now,
    )
    call.services.work.wake_peer()
    return text


async def topup(call: Call, values: Mapping[str, Any]) -> str:
    text = await call.in_context(
        service.top_up,
        exercise_id=int(values["exercise"]),
        author=await _maybe_member(call, values, "author"),
        now=call.now,
    )
    call.services.work.wake_peer()
    return text


async def extend(call: Call, values: Mapping[str, Any]) -> str:
    granted = await call.in_context(
        extensions.grant_extension,
        exercise_id=int(values["exercise"]),
        student=await member(call, values["student"]),
        until=values["until"],
        reason=values["reason"],
        now=call.now,
    )
    told = told_one(await call.services.outbox.delivery([granted.message_key]))
    return f"{granted.render()} {told}"


async def moderate(call: Call, values: Mapping[str, Any]) -> str:
    text = await call.in_context(
        service.moderate,
        exercise_id=int(values["exercise"]),
        student=await member(call, values["student"]),
        score=required_number(values, "score"),
        reason=values["reason"],
        now=call.now,
    )
    call.services.work.wake_peer()
    return text


async def release(call: Call, values: Mapping[str, Any]) -> str:
    exercise = int(values["exercise"])
    text = await call.in_context(
        service.release,
        exercise_id=exercise,
        accept_flagged=_bool(values, "accept_flagged", False),
        now=call.now,
    )
    try:
        await call.services.work.peer_once()
    except Exception:
        log.exception("releasing exercise %s: sending the feedback failed; it retries", exercise)
        call.services.work.wake_peer()
    async with call.services.db.session() as session:
        sent = await service.feedback_delivery(session, exercise)
    return f"{text} {told_all(sent, 'author', 'authors', 'sent their feedback by DM')}"


async def submit(call: Call, values: Mapping[str, Any]) -> str:
    upload = None
    if values.get("file") is not None:
        shared = await shared_file(call, str(values["file"]))
        upload = service.FileInput(
            filename=shared.filename,
            size=shared.size,
            content_type=shared.content_type,
            read=lambda: shared.read_all(service.MAX_FILE_BYTES),
        )
    receipt = await call.in_context(
        service.submit,
        exercise_id=int(values["exercise"]),
        file=upload,
        link=values.get("link"),
        text=values.get("text"),
        # The app runs a command once per Slack trigger (it claims it): a fresh key per run.
        idempotency_key=f"submit:slack:{uuid.uuid4().hex}",
        now=call.now,
    )
    call.services.work.wake_peer()
    return receipt.text


# --------------------------------------------------------------------------- the review form

#: The rubric modal's callback id (its submission is routed by ``slackapp.buttons.FORMS``).
REVIEW_FORM = f"{FORM_PREFIX}peer-review"
COMMENTS = "comments"


def _score_block(index: int) -> str:
    return f"score{index}"


def review_view(form: service.ReviewForm) -> dict[str, Any]:
    """The rubric as a modal, as Discord's ``ReviewModal``: a box per criterion (its range in
    the label) and the comment, holding the earlier answers when a review is changed."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"Your review of Submission {form.label} for “{form.title}”.",
            },
        }
    ]
    for i, criterion in enumerate(form.criteria):
        box: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "max_length": 12,
            "placeholder": {
                "type": "plain_text",
                "text": (
                    criterion.descriptor or f"a number from {criterion.low} to {criterion.high}"
                )[:150],
            },
        }
        if form.scores.get(criterion.name):
            box["initial_value"] = form.scores[criterion.name]
        blocks.append(_input(_score_block(i), criterion.label(), box))
    comments: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": service.MAX_COMMENT,
        "placeholder": {
            "type": "plain_text",
            "text": "What works well, and what would make it better?",
        },
    }
    if form.comments:
        comments["initial_value"] = form.comments
    blocks.append(_input(COMMENTS, "Comments for the author", comments))
    # Only what the submission needs to read the boxes back (metadata holds 3,000 characters).
    metadata = {
        "assignment": form.assignment_id,
        "criteria": [[c.name, c.low, c.high] for c in form.criteria],
    }
    return {
        "type": "modal",
        "callback_id": REVIEW_FORM,
        "title": {"type": "plain_text", "text": f"Review of Submission {form.label}"[:24]},
        "submit": {"type": "plain_text", "text": "Submit review"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _input(block_id: str, label: str, element: dict[str, Any]) -> dict[str, Any]:
    # Optional for Slack: the service refuses what is missing, with its sentence under the box.
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label[:2000]},
        "element": element,
        "optional": True,
    }


async def review_button(call: Call, match: re.Match[str], source: str) -> Modal:
    """The request DM's "Write review": the rubric form (refused in one sentence when it is
    not theirs, was reassigned, or the deadline passed)."""
    form = await call.as_caller(service.review_form, int(match["id"]), now=call.now)
    return Modal(review_view(form))


def _field_of(sentence: str, criteria: Sequence[Criterion], scores: Mapping[str, str]) -> str:
    """The box a refusal belongs under: the score the rubric refused, else the comment
    (which also carries refusals of the whole review, such as a passed deadline)."""
    for i, criterion in enumerate(criteria):
        try:
            parse_score(criterion, scores[criterion.name])
        except RubricError as exc:
            if str(exc) == sentence:
                return _score_block(i)
    return COMMENTS


async def save_review(
    call: Call, meta: Mapping[str, Any], typed: Mapping[str, str | None], key: str
) -> FormAnswer:
    """The submitted rubric, through the same service call as Discord's ``ReviewModal``."""
    criteria = [Criterion(str(n), int(lo), int(hi)) for n, lo, hi in meta["criteria"]]
    scores = {c.name: typed.get(_score_block(i)) or "" for i, c in enumerate(criteria)}
    try:
        async with call.context() as ctx:
            # Claimed with the review, in one transaction: a double submit records one review,
            # and a refused one (rolled back) leaves the form free to be sent again.
            if not await claim_once(ctx.session, key, call.now):
                return FormAnswer()
            saved = await service.submit_review(
                ctx.session,
                ctx.caller,
                int(meta["assignment"]),
                scores=scores,
                comments=typed.get(COMMENTS) or "",
                now=call.now,
            )
    except UserError as exc:
        return FormAnswer(errors={_field_of(exc.sentence, criteria, scores): exc.sentence})
    return FormAnswer(text=saved.text)


_EXERCISE = Option("exercise", "Exercise number", required=True, kind="integer")
_STUDENT = Option("student", "The student: @name, or their e-mail", required=True, kind="user")

COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(
        Shape(
            ("exercise", "create"),
            (
                Option("module", "Module code, e.g. MATH70097", required=True),
                Option("title", "Short title shown to students", required=True),
                Option("brief", "What to submit", required=True, long=True),
                Option("submission_deadline", "e.g. 2026-02-02 17:00 or 2026-02-02 AoE", True),
                Option("review_deadline", "When reviews are due", required=True),
                Option("k", "Reviews per submission (default 3)", kind="integer"),
                Option("rubric", 'Criteria with ranges, e.g. "Correctness 0-10; Clarity 0-5"'),
                Option("double_blind", "Hide authors from reviewers (default yes)", kind="boolean"),
                Option("reviewers", "submitters (default) or enrolled"),
                Option("avoid_same_group", "Never pair one study group", kind="boolean"),
                Option("avoid_repeat_pairs", "Avoid earlier pairs (default yes)", kind="boolean"),
                Option("method", "median (default), mean, corrected or corrected_alone"),
                Option("late_hours", "Accept late work this many hours", kind="integer"),
                Option("late_penalty", "Percent off a late submission's mark", kind="integer"),
                Option("reminder_hours", "Remind reviewers this long before", kind="integer"),
                Option("agreement_weighting", "Weight credit by agreement", kind="boolean"),
            ),
        ),
        create,
    ),
    SlackCommand(Shape(("exercise", "status"), (_EXERCISE,)), status),
    SlackCommand(Shape(("exercise", "allocate"), (_EXERCISE,)), allocate),
    SlackCommand(
        Shape(
            ("exercise", "reassign"),
            (
                _EXERCISE,
                Option("reviewer", "Whose pending reviews to move (@name)", True, "user"),
                Option("author", "Only their review of this student's submission", kind="user"),
                Option("to", "Give them to this student instead", kind="user"),
            ),
        ),
        reassign,
    ),
    SlackCommand(
        Shape(
            ("exercise", "topup"),
            (
                _EXERCISE,
                Option(
                    "author", "Only this student's submission (default: all short)", kind="user"
                ),
            ),
        ),
        topup,
    ),
    SlackCommand(
        Shape(
            ("exercise", "extend"),
            (
                _EXERCISE,
                _STUDENT,
                Option("until", "Their new submission deadline", required=True),
                Option("reason", "Reason reference, e.g. the MC case number", required=True),
            ),
        ),
        extend,
    ),
    SlackCommand(
        Shape(
            ("exercise", "moderate"),
            (
                _EXERCISE,
                _STUDENT,
                Option("score", "The mark out of 100", required=True),
                Option("reason", "Why (kept in the audit trail)", required=True),
            ),
        ),
        moderate,
    ),
    SlackCommand(
        Shape(
            ("exercise", "release"),
            (_EXERCISE, Option("accept_flagged", "Release even if flagged", kind="boolean")),
        ),
        release,
    ),
    SlackCommand(
        Shape(
            ("submit",),
            (
                Option("exercise", "Exercise number (from its announcement)", True, "integer"),
                Option("file", "Link to your work shared with the bot first (up to 8 MB)"),
                Option("link", "Or a link to it"),
                Option("text", "Or the text itself", long=True),
            ),
        ),
        submit,
    ),
)

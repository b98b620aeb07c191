"""The participation rubric of a graded discussion prompt, and scoring one student against it.

Pure logic: no I/O, no database, no discord. The service turns stored contributions into
``PostFact`` values and stores the returned ``StudentScore`` (score, explanation, credits).

Scoring rules (the explanation a student sees follows them line by line):

- Only the student's own, non-deleted posts count. Deleted posts stay in the records and are
  reported ("1 deleted post not counted").
- A post is a **reply** when it is a Discord reply to another student's post in the thread
  (not their own, not a tutor's), or, once the initial post is complete, when it mentions
  another student who had already posted in the thread. A reply earns points when it has at
  least ``reply_min_words`` words; at most ``replies_cap`` replies earn points.
- The **initial post** is the student's own top-level writing (every post that is not a reply
  to another student) taken in order until it reaches ``initial_min_words``. Usually that is
  one message; a long answer split over several messages (Discord's 2,000-character limit)
  still counts, and a "hello" before the answer does not spoil it. Its time is the moment the
  minimum was reached.
- **Late** means created after the student's close time: the prompt's close, or their
  extension if later (an extension never shortens the time). Under the "penalty" policy a late
  initial post or reply earns ``1 - late_penalty_fraction`` of its points; under "not_counted"
  late posts are ignored entirely. When more replies qualify than the cap, on-time replies are
  credited first.
- **Quality** points are the tutor's judgement, from 0 to ``quality_max``; no late penalty.

Points are Decimals rounded half-up to 2 decimals (the database column is Numeric(6, 2)).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, get_args

from bot.due.rules import extended_due, is_late
from bot.errors import UserError, shown

__all__ = [
    "PRESETS",
    "Credit",
    "CreditKind",
    "LatePolicy",
    "PostFact",
    "Rubric",
    "RubricError",
    "StudentScore",
    "check_quality_points",
    "format_points",
    "parse_rubric_spec",
    "preset",
    "render_rubric",
    "score_student",
]

RUBRIC_FORMAT_VERSION = 1
#: How the explanation says quality has no mark yet (the service rewrites it before release).
QUALITY_NOT_GRADED = "quality not yet graded"
LatePolicy = Literal["penalty", "not_counted"]
CreditKind = Literal["discussion_post", "discussion_reply", "quality_points"]

_CENT = Decimal("0.01")
_DECIMAL_SETTINGS = ("initial_points", "points_per_reply", "quality_max", "late_penalty_fraction")
_MAX_WORDS = 5000
_MAX_REPLIES = 20
_MAX_POINTS = Decimal(1000)


class RubricError(UserError):
    """A rubric setting or a tutor's quality mark that cannot be used; one sentence to act on."""


def format_points(value: Decimal) -> str:
    """Points as people write them: 4, 3.5, 2.25 (no trailing zeros, never scientific)."""
    text = f"{value.quantize(_CENT, rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(fraction: Decimal) -> str:
    return format_points(fraction * 100) + "%"


def _points(value: Decimal) -> str:
    return f"{format_points(value)} {'point' if value == 1 else 'points'}"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return singular if count == 1 else (plural or singular + "s")


# --------------------------------------------------------------------------- the rubric


@dataclass(frozen=True, slots=True)
class Rubric:
    """Participation rules shown with a prompt; defaults are the "standard" preset.

    ``replies_cap`` is how many replies can earn points (None: exactly ``replies_required``);
    a cap above the requirement lets extra engagement earn credit.
    """

    initial_min_words: int = 150
    initial_points: Decimal = Decimal(4)
    replies_required: int = 2
    reply_min_words: int = 50
    points_per_reply: Decimal = Decimal(2)
    replies_cap: int | None = None
    quality_max: Decimal = Decimal(4)
    late_policy: LatePolicy = "penalty"
    late_penalty_fraction: Decimal = Decimal("0.5")
    name: str = "custom"

    def __post_init__(self) -> None:
        _check_int("The initial post minimum", self.initial_min_words, 1, _MAX_WORDS, "words")
        _check_int("The number of replies required", self.replies_required, 0, _MAX_REPLIES)
        _check_int("The reply minimum", self.reply_min_words, 1, _MAX_WORDS, "words")
        if self.replies_cap is not None:
            _check_int("The reply cap", self.replies_cap, 0, _MAX_REPLIES)
            if self.replies_cap < self.replies_required:
                raise RubricError(
                    f"The reply cap ({self.replies_cap}) must be at least the number of replies "
                    f"required ({self.replies_required})."
                )
        for label, value in (
            ("Initial post points", self.initial_points),
            ("Points per reply", self.points_per_reply),
            ("Maximum quality points", self.quality_max),
        ):
            _check_points(label, value)
        if self.late_policy not in get_args(LatePolicy):
            raise RubricError(
                f"The late policy must be 'penalty' or 'not_counted', not {self.late_policy!r}."
            )
        fraction = self.late_penalty_fraction
        if not (
            isinstance(fraction, Decimal)
            and fraction.is_finite()
            and 0 <= fraction <= 1
            and fraction == fraction.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        ):
            raise RubricError(
                "The late penalty must be a fraction from 0 to 1, such as 0.5 for half credit, "
                "with at most 4 decimals."
            )
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 64:
            raise RubricError("A rubric needs a name of 1 to 64 characters.")
        if self.max_score <= 0:
            raise RubricError("A rubric must be worth more than 0 points in total.")

    @property
    def credited_replies(self) -> int:
        """How many replies can earn points."""
        return self.replies_required if self.replies_cap is None else self.replies_cap

    @property
    def max_score(self) -> Decimal:
        return (
            self.initial_points + self.points_per_reply * self.credited_replies + self.quality_max
        )

    def with_changes(self, **changes: Any) -> Rubric:
        """A tutor's variant of this rubric, validated again; named "custom" unless renamed."""
        changes.setdefault("name", "custom")
        return dataclasses.replace(self, **changes)

    def late_points(self, points: Decimal) -> Decimal:
        """What ``points`` become for a late post under the penalty policy."""
        return _round(points * (1 - self.late_penalty_fraction))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for ``DiscussionPrompt.rubric``; Decimals as strings to stay exact."""
        return {
            "version": RUBRIC_FORMAT_VERSION,
            "name": self.name,
            "initial_min_words": self.initial_min_words,
            "initial_points": str(self.initial_points),
            "replies_required": self.replies_required,
            "reply_min_words": self.reply_min_words,
            "points_per_reply": str(self.points_per_reply),
            "replies_cap": self.replies_cap,
            "quality_max": str(self.quality_max),
            "late_policy": self.late_policy,
            "late_penalty_fraction": str(self.late_penalty_fraction),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rubric:
        """Read a stored or typed rubric; missing settings take the standard preset's values.

        Unknown settings are refused rather than ignored: a misspelt "reply_min_word" silently
        falling back to the default would change marks.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"version"})
        if unknown:
            raise RubricError(
                f"Unknown rubric setting {shown(unknown[0])}; known settings: "
                f"{', '.join(sorted(known))}."
            )
        version = data.get("version", RUBRIC_FORMAT_VERSION)
        if version != RUBRIC_FORMAT_VERSION:
            raise RubricError(f"This rubric was saved in format {version!r}, which is not known.")
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key == "version":
                continue
            if key in _DECIMAL_SETTINGS:
                values[key] = _parse_decimal(key, raw)
            elif key == "replies_cap":
                values[key] = None if raw is None else _parse_int(key, raw)
            elif key in ("initial_min_words", "replies_required", "reply_min_words"):
                values[key] = _parse_int(key, raw)
            else:
                values[key] = raw
        return cls(**values)


def _round(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _check_int(label: str, value: object, low: int, high: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise RubricError(f"{label} must be a whole number from {low} to {high}{suffix}.")


def _check_points(label: str, value: object) -> None:
    if not (
        isinstance(value, Decimal)
        and value.is_finite()
        and 0 <= value <= _MAX_POINTS
        and value == _round(value)
    ):
        raise RubricError(
            f"{label} must be a number from 0 to {_MAX_POINTS} with at most 2 decimals."
        )


def _parse_int(key: str, raw: object) -> int:
    if isinstance(raw, bool):
        raise RubricError(
            f"The rubric setting {shown(key)} must be a whole number, not {shown(raw)}."
        )
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise RubricError(f"The rubric setting {shown(key)} must be a whole number, not {shown(raw)}.")


def _parse_decimal(key: str, raw: object) -> Decimal:
    try:
        if isinstance(raw, bool):
            raise InvalidOperation
        if isinstance(raw, float):
            return Decimal(repr(raw))  # the shortest text that round-trips: 0.1, not 0.1000…5
        if isinstance(raw, int | str | Decimal):
            value = Decimal(raw.strip() if isinstance(raw, str) else raw)
            if value.is_finite():
                return value
    except InvalidOperation:
        pass
    raise RubricError(f"The rubric setting {shown(key)} must be a number, not {shown(raw)}.")


PRESETS: Mapping[str, Rubric] = {
    "standard": Rubric(name="standard"),
    "light": Rubric(
        name="light",
        initial_min_words=75,
        initial_points=Decimal(3),
        replies_required=1,
        reply_min_words=30,
        points_per_reply=Decimal(2),
        quality_max=Decimal(1),
    ),
    "reflective": Rubric(
        name="reflective",
        initial_min_words=300,
        initial_points=Decimal(6),
        replies_required=0,
        points_per_reply=Decimal(0),
        quality_max=Decimal(4),
        late_policy="not_counted",
    ),
}


def preset(name: str) -> Rubric:
    """A named preset; the tutor customises it with ``dataclasses.replace`` (validated again)."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise RubricError(
            f"There is no rubric preset {shown(name)}; choose one of: {', '.join(sorted(PRESETS))}."
        ) from None


_SPEC_MAX = 500


def parse_rubric_spec(text: str | None) -> Rubric:
    """A rubric as a tutor types it in one command option.

    ``standard`` (or empty) is the standard preset; ``light late_policy=not_counted`` is a preset
    with changes; ``initial_min_words=200 replies_required=3`` changes the standard preset; a JSON
    object (``{"initial_min_words": 200}``) works too. Every setting is validated again, so a typo
    is refused with one sentence rather than silently ignored.
    """
    spec = (text or "").strip()
    if not spec:
        return PRESETS["standard"]
    if len(spec) > _SPEC_MAX:
        raise RubricError(f"The rubric is {len(spec)} characters; keep it under {_SPEC_MAX}.")
    if spec.startswith("{"):
        try:
            data = json.loads(spec)
        except ValueError:
            raise RubricError(
                'The rubric is not valid JSON; use e.g. {"initial_min_words": 200}.'
            ) from None
        if not isinstance(data, dict):
            raise RubricError("A JSON rubric must be an object of settings.")
        merged = {**PRESETS["standard"].to_dict(), "name": "custom", **data}
        return Rubric.from_dict(merged)
    tokens = spec.replace(",", " ").split()
    base = PRESETS["standard"]
    if "=" not in tokens[0]:
        base = preset(tokens[0])
        tokens = tokens[1:]
    if not tokens:
        return base
    changes: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise RubricError(
                "Write rubric changes as setting=value (e.g. replies_required=3), "
                f"not {shown(token)}."
            )
        changes[key.strip().lower()] = None if value.lower() in ("none", "null") else value
    merged = {**base.to_dict(), "name": "custom", **changes}
    return Rubric.from_dict(merged)


def render_rubric(rubric: Rubric) -> str:
    """The short text posted with a prompt so students know the rules before they write."""
    lines = [
        f"**Initial post**: at least {rubric.initial_min_words} words, before the close "
        f"({_points(rubric.initial_points)})."
    ]
    if rubric.credited_replies > 0:
        required = rubric.replies_required
        each = " each" if rubric.credited_replies > 1 else ""
        each = (
            f"at least {rubric.reply_min_words} words{each} "
            f"({_points(rubric.points_per_reply)}{each}"
        )
        if required == 0:
            reply_rule = (
                f"optional; up to {rubric.credited_replies} "
                f"{_plural(rubric.credited_replies, 'reply', 'replies')} to other students, {each}"
            )
        else:
            reply_rule = (
                f"{required} {_plural(required, 'reply', 'replies')} to other students, {each}"
            )
            if rubric.credited_replies > required:
                reply_rule += f"; up to {rubric.credited_replies} replies earn points"
        lines.append(f"**Replies**: {reply_rule}). Use Reply on their post, or mention them.")
    if rubric.quality_max > 0:
        lines.append(f"**Quality**: up to {_points(rubric.quality_max)}, awarded by your tutor.")
    if rubric.late_policy == "not_counted":
        lines.append("**Late posts**: not counted.")
    elif rubric.late_penalty_fraction == 0:
        lines.append("**Late posts**: accepted in full.")
    elif rubric.late_penalty_fraction == 1:
        lines.append("**Late posts**: accepted but earn no points.")
    else:
        lines.append(
            f"**Late posts**: accepted at {_percent(1 - rubric.late_penalty_fraction)} "
            "of their points."
        )
    lines.append("**Words**: code blocks, quoted text and links are not counted.")
    lines.append(f"**Total**: {_points(rubric.max_score)}.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class PostFact:
    """One message in a prompt's thread, as recorded (deleted ones included)."""

    message_id: str
    author_id: str
    created_at: datetime
    words: int
    parent_message_id: str | None = None
    mentions: tuple[str, ...] = ()
    deleted: bool = False
    is_student: bool = True

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError(f"post {self.message_id}: created_at must be timezone-aware")
        if self.words < 0:
            raise ValueError(f"post {self.message_id}: words must not be negative")


@dataclass(frozen=True, slots=True)
class Credit:
    """Points earned by one post (or the tutor's quality mark), for the participation ledger."""

    kind: CreditKind
    points: Decimal
    message_id: str | None
    late: bool = False


@dataclass(frozen=True, slots=True)
class StudentScore:
    """A student's participation score on one prompt, and why."""

    person_id: str
    score: Decimal
    max_score: Decimal
    explanation: str
    close_at: datetime
    initial_words: int
    initial_message_ids: tuple[str, ...]
    initial_met: bool
    initial_late: bool
    initial_points: Decimal
    replies_credited: int
    replies_credited_late: int
    replies_short: int
    replies_over_cap: int
    reply_points: Decimal
    quality_points: Decimal | None
    deleted_posts: int
    late_posts_not_counted: int
    credits: tuple[Credit, ...]

    @property
    def summary(self) -> str:
        """One line for a student or a gradebook cell: "9/12: initial post 312 words, ..."."""
        return f"{format_points(self.score)}/{format_points(self.max_score)}: {self.explanation}"


def check_quality_points(rubric: Rubric, points: Decimal) -> Decimal:
    """Validate a tutor's quality mark before it is stored; returns it rounded to 2 decimals."""
    if (
        not isinstance(points, Decimal)
        or not points.is_finite()
        or not 0 <= points <= rubric.quality_max
    ):
        raise RubricError(
            f"Quality points must be a number from 0 to {format_points(rubric.quality_max)}."
        )
    if points != _round(points):
        raise RubricError("Quality points can have at most 2 decimals.")
    return _round(points)


def _order(post: PostFact) -> tuple[datetime, int, str]:
    # Snowflakes are numeric strings: compare them as numbers, then as text for anything else.
    return (post.created_at, len(post.message_id), post.message_id)


def _close_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def score_student(
    rubric: Rubric,
    person_id: str,
    posts: Sequence[PostFact],
    close_at: datetime,
    extension_close_at: datetime | None = None,
    quality_points: Decimal | None = None,
) -> StudentScore:
    """Score one student from every recorded post in the thread (all authors, deleted too).

    Deterministic: the same posts in any order give the same score and the same explanation.
    """
    for moment in (close_at, extension_close_at):
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            raise ValueError("close times must be timezone-aware")
    close = extended_due(close_at, extension_close_at)  # the one rule (bot.due)
    extended = close != close_at
    quality = None if quality_points is None else check_quality_points(rubric, quality_points)

    by_id = {post.message_id: post for post in posts}
    first_student_post: dict[str, datetime] = {}
    for post in posts:
        if post.is_student:
            seen = first_student_post.get(post.author_id)
            if seen is None or post.created_at < seen:
                first_student_post[post.author_id] = post.created_at

    mine = sorted((p for p in posts if p.author_id == person_id), key=_order)
    deleted = sum(1 for p in mine if p.deleted)
    live = [p for p in mine if not p.deleted]
    late_ignored = 0
    if rubric.late_policy == "not_counted":
        late_ignored = sum(1 for p in live if is_late(p.created_at, close))
        live = [p for p in live if not is_late(p.created_at, close)]

    def replies_to_student(post: PostFact) -> bool:
        parent = by_id.get(post.parent_message_id) if post.parent_message_id else None
        return parent is not None and parent.is_student and parent.author_id != person_id

    def mentions_student(post: PostFact) -> bool:
        return any(
            user != person_id
            and user in first_student_post
            and first_student_post[user] <= post.created_at
            for user in set(post.mentions)
        )

    initial_parts: list[PostFact] = []
    initial_words = 0
    initial_reached: PostFact | None = None
    candidates: list[PostFact] = []
    for post in live:
        if replies_to_student(post):
            candidates.append(post)
        elif initial_reached is None:
            initial_parts.append(post)
            initial_words += post.words
            if initial_words >= rubric.initial_min_words:
                initial_reached = post
        elif mentions_student(post):
            candidates.append(post)

    credits: list[Credit] = []
    initial_late = initial_reached is not None and is_late(initial_reached.created_at, close)
    initial_earned = Decimal(0)
    if initial_reached is not None:
        initial_earned = (
            rubric.late_points(rubric.initial_points) if initial_late else rubric.initial_points
        )
        credits.append(
            Credit("discussion_post", initial_earned, initial_reached.message_id, initial_late)
        )

    qualifying = [p for p in candidates if p.words >= rubric.reply_min_words]
    short = len(candidates) - len(qualifying)
    qualifying.sort(key=lambda p: (is_late(p.created_at, close), _order(p)))
    credited = qualifying[: rubric.credited_replies]
    over_cap = len(qualifying) - len(credited)
    reply_points = Decimal(0)
    credited_late = 0
    for post in credited:
        late = is_late(post.created_at, close)
        credited_late += late
        points = rubric.late_points(rubric.points_per_reply) if late else rubric.points_per_reply
        reply_points += points
        credits.append(Credit("discussion_reply", points, post.message_id, late))
    if quality is not None and rubric.quality_max > 0:
        credits.append(Credit("quality_points", quality, None))

    score = _round(initial_earned + reply_points + (quality or Decimal(0)))
    parts = [
        _explain_initial(rubric, initial_parts, initial_words, initial_reached, initial_late),
        _explain_replies(rubric, len(credited), credited_late, over_cap, short),
    ]
    if rubric.quality_max > 0:
        parts.append(
            QUALITY_NOT_GRADED
            if quality is None
            else f"quality {format_points(quality)}/{format_points(rubric.quality_max)}"
        )
    if deleted:
        parts.append(f"{deleted} deleted {_plural(deleted, 'post')} not counted")
    if late_ignored:
        parts.append(f"{late_ignored} late {_plural(late_ignored, 'post')} not counted")
    if extended:
        parts.append(f"extension to {_close_text(close)}")
    if not initial_parts and candidates:
        parts[0] += " (a reply to another student does not count as one)"

    return StudentScore(
        person_id=person_id,
        score=score,
        max_score=rubric.max_score,
        explanation="; ".join(part for part in parts if part),
        close_at=close,
        initial_words=initial_words,
        initial_message_ids=tuple(
            p.message_id for p in initial_parts[: initial_parts.index(initial_reached) + 1]
        )
        if initial_reached is not None
        else tuple(p.message_id for p in initial_parts),
        initial_met=initial_reached is not None,
        initial_late=initial_late,
        initial_points=initial_earned,
        replies_credited=len(credited),
        replies_credited_late=credited_late,
        replies_short=short,
        replies_over_cap=over_cap,
        reply_points=reply_points,
        quality_points=quality,
        deleted_posts=deleted,
        late_posts_not_counted=late_ignored,
        credits=tuple(credits),
    )


def _explain_initial(
    rubric: Rubric,
    parts: Sequence[PostFact],
    words: int,
    reached: PostFact | None,
    late: bool,
) -> str:
    if not parts:
        return "no initial post"
    over = f" over {len(parts)} messages" if len(parts) > 1 else ""
    text = f"initial post {words} {_plural(words, 'word')}{over}"
    if reached is None:
        return f"{text}, below the {rubric.initial_min_words}-word minimum"
    if not late:
        return f"{text}, on time"
    if rubric.late_penalty_fraction == 0:
        return f"{text}, late (no penalty)"
    return f"{text}, late (-{_percent(rubric.late_penalty_fraction)})"


def _explain_replies(rubric: Rubric, credited: int, late: int, over_cap: int, short: int) -> str:
    if rubric.credited_replies == 0:
        return ""
    required = rubric.replies_required
    details: list[str] = []
    if rubric.credited_replies == required:
        text = f"{credited} of {required} {_plural(required, 'reply', 'replies')}"
    else:
        text = (
            f"{credited} {_plural(credited, 'reply', 'replies')} credited of up to "
            f"{rubric.credited_replies}"
        )
        details.append(f"{required} expected")
    if late:
        fraction = rubric.late_penalty_fraction
        details.append(
            f"{late} late without penalty"
            if fraction == 0
            else f"{late} late at -{_percent(fraction)}"
        )
    if over_cap:
        details.append(f"{over_cap} more beyond the cap")
    if short:
        details.append(
            f"{short} {_plural(short, 'reply', 'replies')} under {rubric.reply_min_words} words "
            "not counted"
        )
    return f"{text} ({', '.join(details)})" if details else text

"""Discussion rubric: settings, presets, the text shown with a prompt, and scoring a student."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.discussions.rubric import (
    PRESETS,
    Credit,
    PostFact,
    Rubric,
    RubricError,
    StudentScore,
    check_quality_points,
    preset,
    render_rubric,
    score_student,
)

CLOSE = datetime(2025, 3, 7, 17, 0, tzinfo=UTC)
STANDARD = preset("standard")
ME = "1001"
AMY = "1002"
BOB = "1003"
TUTOR = "2001"


class Thread:
    """Builds a thread's posts in time order, the way a tutor would describe them."""

    def __init__(self) -> None:
        self.posts: list[PostFact] = []
        self._next = 5000

    def post(
        self,
        author: str,
        words: int,
        *,
        minutes: int = -60,
        reply_to: str | None = None,
        mentions: tuple[str, ...] = (),
        deleted: bool = False,
    ) -> str:
        self._next += 1
        message_id = str(self._next)
        self.posts.append(
            PostFact(
                message_id=message_id,
                author_id=author,
                created_at=CLOSE + timedelta(minutes=minutes),
                words=words,
                parent_message_id=reply_to,
                mentions=mentions,
                deleted=deleted,
                is_student=author != TUTOR,
            )
        )
        return message_id


def score(
    thread: Thread,
    rubric: Rubric = STANDARD,
    quality: str | None = None,
    extension: datetime | None = None,
) -> StudentScore:
    return score_student(
        rubric,
        ME,
        thread.posts,
        CLOSE,
        extension,
        None if quality is None else Decimal(quality),
    )


# --------------------------------------------------------------------------- scoring: examples


def test_full_participation_on_time() -> None:
    t = Thread()
    prompt = t.post(TUTOR, 80, minutes=-5000)
    t.post(ME, 312, minutes=-3000, reply_to=prompt)
    amy = t.post(AMY, 200, minutes=-2900)
    bob = t.post(BOB, 180, minutes=-2800)
    t.post(ME, 60, minutes=-2000, reply_to=amy)
    t.post(ME, 75, minutes=-1000, reply_to=bob)
    result = score(t, quality="3")
    assert result.explanation == "initial post 312 words, on time; 2 of 2 replies; quality 3/4"
    assert result.score == Decimal("11.00")
    assert result.max_score == Decimal(12)
    assert result.summary == "11/12: initial post 312 words, on time; 2 of 2 replies; quality 3/4"


def test_late_initial_post_is_penalised() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 200, minutes=30)
    t.post(ME, 60, minutes=-10, reply_to=amy)
    result = score(t)
    assert result.explanation == (
        "initial post 200 words, late (-50%); 1 of 2 replies; quality not yet graded"
    )
    assert result.score == Decimal("4.00")  # 2 (half of 4) + 2
    assert result.initial_late


def test_late_replies_are_penalised_and_said_so() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 150, minutes=-500)
    t.post(ME, 60, minutes=-10, reply_to=amy)
    t.post(ME, 60, minutes=+10, reply_to=amy)
    result = score(t, quality="2")
    assert result.explanation == (
        "initial post 150 words, on time; 2 of 2 replies (1 late at -50%); quality 2/4"
    )
    assert result.score == Decimal("9.00")  # 4 + 2 + 1 + 2


def test_not_counted_policy_ignores_late_posts() -> None:
    rubric = STANDARD.with_changes(late_policy="not_counted")
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 200, minutes=-100)
    t.post(ME, 60, minutes=5, reply_to=amy)
    t.post(ME, 60, minutes=6, reply_to=amy)
    result = score(t, rubric, quality="4")
    assert result.explanation == (
        "initial post 200 words, on time; 0 of 2 replies; quality 4/4; 2 late posts not counted"
    )
    assert result.score == Decimal("8.00")


def test_extension_moves_the_students_close() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 200, minutes=60 * 24)
    t.post(ME, 55, minutes=60 * 25, reply_to=amy)
    extension = CLOSE + timedelta(days=3)
    result = score(t, extension=extension)
    assert result.explanation == (
        "initial post 200 words, on time; 1 of 2 replies; quality not yet graded; "
        "extension to 2025-03-10 17:00 UTC"
    )
    assert result.close_at == extension
    assert result.score == Decimal("6.00")


def test_an_extension_earlier_than_the_close_changes_nothing() -> None:
    t = Thread()
    t.post(ME, 200, minutes=-30)
    result = score(t, extension=CLOSE - timedelta(hours=2))
    assert result.close_at == CLOSE
    assert result.explanation.startswith("initial post 200 words, on time;")
    assert "extension" not in result.explanation


def test_posting_exactly_at_the_close_is_on_time() -> None:
    t = Thread()
    t.post(ME, 200, minutes=0)
    assert not score(t).initial_late


def test_deleted_posts_are_reported_not_counted() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 400, minutes=-500, deleted=True)
    t.post(ME, 160, minutes=-400)
    t.post(ME, 90, minutes=-300, reply_to=amy, deleted=True)
    result = score(t)
    assert result.explanation == (
        "initial post 160 words, on time; 0 of 2 replies; quality not yet graded; "
        "2 deleted posts not counted"
    )
    assert result.score == Decimal("4.00")


def test_a_reply_to_a_deleted_student_post_still_counts() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600, deleted=True)
    t.post(ME, 160, minutes=-400)
    t.post(ME, 60, minutes=-300, reply_to=amy)
    assert score(t).replies_credited == 1


def test_replies_to_self_or_to_a_tutor_are_not_peer_replies() -> None:
    t = Thread()
    tutor_question = t.post(TUTOR, 40, minutes=-700)
    mine = t.post(ME, 200, minutes=-600)
    t.post(ME, 80, minutes=-500, reply_to=mine)
    t.post(ME, 80, minutes=-400, reply_to=tutor_question)
    t.post(ME, 80, minutes=-300, mentions=(TUTOR,))
    t.post(ME, 80, minutes=-200, mentions=(ME,))
    result = score(t)
    assert result.explanation.startswith("initial post 200 words, on time; 0 of 2 replies;")


def test_a_mention_counts_as_a_reply_once_that_student_has_posted() -> None:
    t = Thread()
    t.post(ME, 200, minutes=-900)
    t.post(ME, 70, minutes=-800, mentions=(BOB,))  # Bob has not posted yet
    t.post(BOB, 150, minutes=-700)
    t.post(ME, 70, minutes=-600, mentions=(BOB,))
    result = score(t)
    assert result.replies_credited == 1
    assert result.explanation.startswith("initial post 200 words, on time; 1 of 2 replies;")


def test_an_answer_split_over_messages_counts_as_one_initial_post() -> None:
    t = Thread()
    t.post(ME, 3, minutes=-900)  # "Hi everyone, here goes"
    t.post(ME, 100, minutes=-899)
    t.post(ME, 90, minutes=-898)
    t.post(ME, 40, minutes=-100)  # a later aside does not change the initial post
    result = score(t)
    assert result.explanation.startswith("initial post 193 words over 3 messages, on time;")
    assert result.initial_points == Decimal(4)
    assert len(result.initial_message_ids) == 3


def test_a_short_initial_post_earns_nothing_and_says_how_short() -> None:
    t = Thread()
    t.post(ME, 80, minutes=-100)
    result = score(t)
    assert result.explanation == (
        "initial post 80 words, below the 150-word minimum; 0 of 2 replies; quality not yet graded"
    )
    assert result.score == Decimal("0.00")


def test_short_replies_are_named() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 150, minutes=-500)
    t.post(ME, 49, minutes=-400, reply_to=amy)
    t.post(ME, 50, minutes=-300, reply_to=amy)
    result = score(t)
    assert result.explanation.startswith(
        "initial post 150 words, on time; 1 of 2 replies (1 reply under 50 words not counted);"
    )


def test_replies_beyond_the_cap_earn_nothing_and_on_time_ones_are_credited_first() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 150, minutes=-500)
    late = t.post(ME, 60, minutes=+5, reply_to=amy)
    early = [t.post(ME, 60, minutes=-400 + i, reply_to=amy) for i in range(2)]
    result = score(t)
    assert result.explanation.startswith(
        "initial post 150 words, on time; 2 of 2 replies (1 more beyond the cap);"
    )
    assert result.reply_points == Decimal(4)
    credited = {c.message_id for c in result.credits if c.kind == "discussion_reply"}
    assert credited == set(early)
    assert late not in credited


def test_a_cap_above_the_requirement_rewards_extra_replies() -> None:
    rubric = STANDARD.with_changes(replies_cap=3)
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 150, minutes=-500)
    for i in range(4):
        t.post(ME, 60, minutes=-400 + i, reply_to=amy)
    result = score(t, rubric)
    assert result.max_score == Decimal(14)
    assert result.explanation.startswith(
        "initial post 150 words, on time; 3 replies credited of up to 3 "
        "(2 expected, 1 more beyond the cap);"
    )


def test_only_replies_means_no_initial_post_with_a_hint() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 300, minutes=-500, reply_to=amy)
    result = score(t)
    assert result.explanation.startswith(
        "no initial post (a reply to another student does not count as one); 1 of 2 replies;"
    )


def test_reflective_preset_has_no_reply_line() -> None:
    t = Thread()
    t.post(ME, 320, minutes=-100)
    result = score(t, preset("reflective"), quality="3.5")
    assert result.explanation == "initial post 320 words, on time; quality 3.5/4"
    assert result.score == Decimal("9.50")


def test_credits_carry_the_message_ids_for_the_ledger() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    initial = t.post(ME, 200, minutes=-500)
    reply = t.post(ME, 60, minutes=10, reply_to=amy)
    result = score(t, quality="1.5")
    assert result.credits == (
        Credit("discussion_post", Decimal(4), initial, False),
        Credit("discussion_reply", Decimal("1.00"), reply, True),
        Credit("quality_points", Decimal("1.50"), None, False),
    )


def test_quality_points_are_checked_against_the_rubric() -> None:
    t = Thread()
    with pytest.raises(RubricError, match=r"^Quality points must be a number from 0 to 4\.$"):
        score(t, quality="4.5")
    with pytest.raises(RubricError, match="from 0 to 4"):
        score(t, quality="-1")
    with pytest.raises(RubricError, match="at most 2 decimals"):
        check_quality_points(STANDARD, Decimal("2.125"))
    assert check_quality_points(STANDARD, Decimal("2.5")) == Decimal("2.50")


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        PostFact("1", ME, datetime(2025, 1, 1), 10)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError):
        score_student(STANDARD, ME, [], datetime(2025, 1, 1))  # noqa: DTZ001


def test_same_posts_in_any_order_give_the_same_result() -> None:
    t = Thread()
    amy = t.post(AMY, 200, minutes=-600)
    t.post(ME, 100, minutes=-500)
    t.post(ME, 100, minutes=-500)  # same instant: ordered by message id
    t.post(ME, 60, minutes=5, reply_to=amy)
    t.post(ME, 70, minutes=-30, mentions=(AMY,))
    expected = score(t)
    shuffled = Thread()
    shuffled.posts = random.Random(7).sample(t.posts, len(t.posts))
    assert score(shuffled) == expected


# --------------------------------------------------------------------------- rubric settings


def test_presets_are_valid_and_named() -> None:
    assert set(PRESETS) == {"standard", "light", "reflective"}
    assert preset("standard").max_score == Decimal(12)
    assert preset(" Light ").name == "light"
    with pytest.raises(RubricError, match="choose one of: light, reflective, standard"):
        preset("heavy")


def test_standard_rubric_text_shown_with_the_prompt() -> None:
    assert render_rubric(STANDARD) == (
        "**Initial post**: at least 150 words, before the close (4 points).\n"
        "**Replies**: 2 replies to other students, at least 50 words each (2 points each). "
        "Use Reply on their post, or mention them.\n"
        "**Quality**: up to 4 points, awarded by your tutor.\n"
        "**Late posts**: accepted at 50% of their points.\n"
        "**Words**: code blocks, quoted text and links are not counted.\n"
        "**Total**: 12 points."
    )


def test_rubric_text_follows_the_settings() -> None:
    text = render_rubric(
        STANDARD.with_changes(
            replies_required=1, replies_cap=2, late_policy="not_counted", quality_max=Decimal(0)
        )
    )
    assert "1 reply to other students" in text
    assert "up to 2 replies earn points" in text
    assert "**Late posts**: not counted." in text
    assert "Quality" not in text
    assert text.endswith("**Total**: 8 points.")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"initial_min_words": 0}, "The initial post minimum must be a whole number from 1 to"),
        ({"replies_required": 21}, "The number of replies required must be a whole number"),
        ({"replies_cap": 1}, "The reply cap (1) must be at least the number of replies"),
        ({"points_per_reply": Decimal("-1")}, "Points per reply must be a number from 0"),
        ({"initial_points": Decimal("1.234")}, "with at most 2 decimals"),
        ({"late_policy": "ignore"}, "The late policy must be 'penalty' or 'not_counted'"),
        ({"late_penalty_fraction": Decimal("1.5")}, "The late penalty must be a fraction"),
        (
            {
                "initial_points": Decimal(0),
                "points_per_reply": Decimal(0),
                "quality_max": Decimal(0),
            },
            "A rubric must be worth more than 0 points in total.",
        ),
        ({"name": ""}, "A rubric needs a name"),
    ],
)
def test_invalid_settings_get_one_clear_sentence(changes: dict[str, object], message: str) -> None:
    with pytest.raises(RubricError) as caught:
        STANDARD.with_changes(**changes)
    sentence = caught.value.sentence
    assert message in sentence
    assert sentence.endswith(".") and sentence.count(". ") == 0


def test_to_dict_round_trips_through_json_exactly() -> None:
    rubric = STANDARD.with_changes(
        late_penalty_fraction=Decimal("0.3333"), points_per_reply=Decimal("1.25"), replies_cap=3
    )
    stored = json.loads(json.dumps(rubric.to_dict()))
    assert stored["points_per_reply"] == "1.25"
    assert Rubric.from_dict(stored) == rubric


def test_from_dict_reads_typed_values_and_fills_defaults() -> None:
    rubric = Rubric.from_dict({"initial_min_words": "200", "late_penalty_fraction": 0.25})
    assert rubric.initial_min_words == 200
    assert rubric.late_penalty_fraction == Decimal("0.25")
    assert rubric.replies_required == STANDARD.replies_required


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reply_min_word": 40}, "Unknown rubric setting 'reply_min_word'"),
        ({"initial_min_words": "lots"}, "'initial_min_words' must be a whole number"),
        ({"quality_max": "four"}, "'quality_max' must be a number"),
        ({"version": 9}, "format 9"),
    ],
)
def test_from_dict_refuses_bad_data(data: dict[str, object], message: str) -> None:
    with pytest.raises(RubricError, match=message):
        Rubric.from_dict(data)


# --------------------------------------------------------------------------- properties

AUTHORS = (ME, AMY, BOB, TUTOR)


@st.composite
def rubrics(draw: st.DrawFn) -> Rubric:
    points = st.decimals(min_value=0, max_value=10, places=2)
    required = draw(st.integers(0, 4))
    cap = draw(st.none() | st.integers(required, required + 3))
    rubric_points = (draw(points), draw(points), draw(points))
    credited = required if cap is None else cap
    assume(rubric_points[0] + rubric_points[1] * credited + rubric_points[2] > 0)
    return Rubric(
        initial_min_words=draw(st.integers(1, 300)),
        initial_points=rubric_points[0],
        replies_required=required,
        reply_min_words=draw(st.integers(1, 150)),
        points_per_reply=rubric_points[1],
        replies_cap=cap,
        quality_max=rubric_points[2],
        late_policy=draw(st.sampled_from(["penalty", "not_counted"])),
        late_penalty_fraction=draw(st.decimals(min_value=0, max_value=1, places=2)),
    )


@st.composite
def threads(draw: st.DrawFn) -> list[PostFact]:
    count = draw(st.integers(0, 14))
    posts: list[PostFact] = []
    for index in range(count):
        author = draw(st.sampled_from(AUTHORS))
        parent = draw(
            st.none() | st.sampled_from([p.message_id for p in posts] or ["999"]) | st.just("999")
        )
        posts.append(
            PostFact(
                message_id=str(10_000 + index),
                author_id=author,
                created_at=CLOSE + timedelta(minutes=draw(st.integers(-300, 300))),
                words=draw(st.integers(0, 400)),
                parent_message_id=parent,
                mentions=tuple(draw(st.lists(st.sampled_from(AUTHORS), max_size=2))),
                deleted=draw(st.booleans()) and draw(st.booleans()),
                is_student=author != TUTOR,
            )
        )
    return posts


def quality_for(rubric: Rubric, data: st.DataObject) -> Decimal | None:
    return data.draw(st.none() | st.decimals(min_value=0, max_value=rubric.quality_max, places=2))


def total(rubric: Rubric, posts: list[PostFact], quality: Decimal | None, **kw: object) -> Decimal:
    close = kw.get("close", CLOSE)
    extension = kw.get("extension")
    assert isinstance(close, datetime)
    assert extension is None or isinstance(extension, datetime)
    return score_student(rubric, ME, posts, close, extension, quality).score


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.data())
def test_score_is_between_zero_and_the_maximum(
    rubric: Rubric, posts: list[PostFact], data: st.DataObject
) -> None:
    result = score_student(rubric, ME, posts, CLOSE, None, quality_for(rubric, data))
    assert Decimal(0) <= result.score <= result.max_score
    assert result.score == sum((c.points for c in result.credits), Decimal(0))


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.integers(1, 300), st.data())
def test_more_words_never_lower_the_score(
    rubric: Rubric, posts: list[PostFact], extra: int, data: st.DataObject
) -> None:
    mine = [i for i, p in enumerate(posts) if p.author_id == ME]
    assume(mine)
    index = data.draw(st.sampled_from(mine))
    quality = quality_for(rubric, data)
    longer = list(posts)
    longer[index] = replace(posts[index], words=posts[index].words + extra)
    assert total(rubric, longer, quality) >= total(rubric, posts, quality)


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.data())
def test_another_post_never_lowers_the_score(
    rubric: Rubric, posts: list[PostFact], data: st.DataObject
) -> None:
    quality = quality_for(rubric, data)
    author = data.draw(st.sampled_from(AUTHORS))
    new = (
        PostFact(
            message_id="99999",
            author_id=author,
            created_at=CLOSE + timedelta(minutes=data.draw(st.integers(-300, 300))),
            words=data.draw(st.integers(0, 400)),
            parent_message_id=data.draw(st.none() | st.sampled_from([p.message_id for p in posts])),
            mentions=tuple(data.draw(st.lists(st.sampled_from(AUTHORS), max_size=2))),
            is_student=author != TUTOR,
        )
        if posts
        else PostFact("99999", author, CLOSE, 200, is_student=author != TUTOR)
    )
    assert total(rubric, [*posts, new], quality) >= total(rubric, posts, quality)


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.data())
def test_deleting_a_post_never_raises_the_score(
    rubric: Rubric, posts: list[PostFact], data: st.DataObject
) -> None:
    assume(posts)
    index = data.draw(st.integers(0, len(posts) - 1))
    quality = quality_for(rubric, data)
    after = list(posts)
    after[index] = replace(posts[index], deleted=True)
    assert total(rubric, after, quality) <= total(rubric, posts, quality)


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.integers(-300, 300), st.integers(0, 600), st.data())
def test_a_later_close_or_an_extension_never_lowers_the_score(
    rubric: Rubric, posts: list[PostFact], shift: int, more: int, data: st.DataObject
) -> None:
    # The same posts scored against an earlier close are "late posts": never worth more.
    quality = quality_for(rubric, data)
    early = CLOSE + timedelta(minutes=shift)
    later = early + timedelta(minutes=more)
    assert total(rubric, posts, quality, close=early) <= total(rubric, posts, quality, close=later)
    extended = score_student(rubric, ME, posts, early, later, quality)
    assert extended.score == total(rubric, posts, quality, close=later)


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.data())
def test_penalty_policy_never_scores_below_not_counted(
    rubric: Rubric, posts: list[PostFact], data: st.DataObject
) -> None:
    quality = quality_for(rubric, data)
    penalty = total(replace(rubric, late_policy="penalty"), posts, quality)
    ignored = total(replace(rubric, late_policy="not_counted"), posts, quality)
    assert penalty >= ignored


@settings(max_examples=150, deadline=None)
@given(rubrics(), threads(), st.randoms())
def test_input_order_does_not_matter(
    rubric: Rubric, posts: list[PostFact], rnd: random.Random
) -> None:
    shuffled = rnd.sample(posts, len(posts))
    assert score_student(rubric, ME, shuffled, CLOSE) == score_student(rubric, ME, posts, CLOSE)


@settings(deadline=None)
@given(rubrics())
def test_any_valid_rubric_round_trips(rubric: Rubric) -> None:
    assert Rubric.from_dict(json.loads(json.dumps(rubric.to_dict()))) == rubric

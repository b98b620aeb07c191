"""Peer-score aggregation: plain statistics are right, and the corrected score earns its keep."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.peer.aggregation import Method, Review, aggregate, final_score


def simulate(
    *,
    students: int,
    k: int,
    exercises: int,
    bias_sd: float,
    noise: tuple[float, float],
    seed: int,
    biases: dict[int, float] | None = None,
) -> tuple[list[Review], dict[int, float]]:
    """Reviews over a cyclic allocation (reviewer i+s reviews i), shifted each exercise."""
    rng = random.Random(seed)
    bias = {p: rng.gauss(0.0, bias_sd) for p in range(students)} | (biases or {})
    sd = {p: rng.uniform(*noise) for p in range(students)}
    reviews: list[Review] = []
    truth: dict[int, float] = {}
    for ex in range(exercises):
        order = list(range(students))
        rng.shuffle(order)
        for i, author in enumerate(order):
            sub = ex * students + author
            truth[sub] = rng.gauss(70.0, 10.0)
            for shift in range(1, k + 1):
                r = order[(i + shift) % students]
                reviews.append(Review(r, sub, truth[sub] + bias[r] + rng.gauss(0.0, sd[r])))
    return reviews, truth


def rmse(values: dict[int, float], truth: dict[int, float]) -> float:
    return math.sqrt(statistics.fmean((values[u] - truth[u]) ** 2 for u in truth))


def method_rmse(reviews: list[Review], truth: dict[int, float], method: Method) -> float:
    result = aggregate(reviews)
    return rmse({u: final_score(method, s) for u, s in result.submissions.items()}, truth)


# --------------------------------------------------------------------------- plain figures


def test_median_mean_and_disagreement_of_one_submission() -> None:
    result = aggregate([Review(1, 10, 60), Review(2, 10, 70), Review(3, 10, 95)])
    s = result.submissions[10]
    assert s.n_reviews == 3
    assert s.median == 70
    assert s.mean == pytest.approx(75)
    assert s.disagreement == pytest.approx(statistics.stdev([60, 70, 95]))
    assert s.flagged and s.flag_reason is not None and "disagree" in s.flag_reason


def test_agreeing_reviewers_are_not_flagged_and_a_lone_review_is() -> None:
    result = aggregate([Review(1, 10, 71), Review(2, 10, 69), Review(3, 10, 70), Review(1, 11, 55)])
    assert not result.submissions[10].flagged
    lone = result.submissions[11]
    assert lone.flagged and lone.flag_reason == "only 1 review(s), fewer than 2"
    assert lone.disagreement == 0.0


def test_the_disagreement_threshold_is_the_tutors_to_set() -> None:
    reviews = [Review(1, 10, 60), Review(2, 10, 80)]  # SD 14.1
    assert not aggregate(reviews).submissions[10].flagged
    assert aggregate(reviews, disagreement_threshold=10).submissions[10].flagged
    assert not aggregate(reviews, scale=(0, 200)).submissions[10].flagged


def test_without_evidence_to_tell_reviewers_apart_the_corrected_score_is_the_mean() -> None:
    # Every reviewer scores one submission only: nothing to learn a bias or reliability from.
    reviews = [
        Review(r, sub, score)
        for sub, scores in {1: (50, 62, 71), 2: (80, 85, 93), 3: (40, 58, 60)}.items()
        for r, score in zip(range(sub * 10, sub * 10 + 3), scores, strict=True)
    ]
    result = aggregate(reviews)
    for s in result.submissions.values():
        assert s.corrected == pytest.approx(s.mean, abs=0.05)
    assert all(abs(p.bias) < 0.05 for p in result.reviewers.values())


def test_final_score_follows_the_tutors_method_unless_moderated() -> None:
    s = aggregate([Review(1, 5, 40), Review(2, 5, 50), Review(3, 5, 90)]).submissions[5]
    assert final_score(Method.MEDIAN, s) == 50
    assert final_score("mean", s) == pytest.approx(60)
    assert final_score(Method.CORRECTED, s) == s.corrected
    assert final_score(Method.MEDIAN, s, moderated=72.5) == 72.5
    with pytest.raises(ValueError):
        final_score("mode", s)


def test_corrected_scores_stay_on_the_scale() -> None:
    harsh = {0: -40.0, 1: -40.0, 2: -40.0}
    reviews, _ = simulate(
        students=30, k=3, exercises=2, bias_sd=0, noise=(3, 5), seed=3, biases=harsh
    )
    reviews += [Review(0, 999, 100.0), Review(1, 999, 100.0), Review(2, 999, 100.0)]
    unclipped = aggregate(reviews, scale=(-1000, 1000)).submissions[999].corrected
    assert unclipped > 120  # three harsh markers' full marks mean better than full marks
    result = aggregate(reviews)
    assert all(0.0 <= s.corrected <= 100.0 for s in result.submissions.values())
    assert result.submissions[999].corrected == 100.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        aggregate([Review(1, 1, 50)], scale=(100, 0))
    with pytest.raises(ValueError):
        aggregate([Review(1, 1, float("nan"))])


def test_no_reviews_give_an_empty_result() -> None:
    result = aggregate([])
    assert dict(result.submissions) == {} and dict(result.reviewers) == {}


# --------------------------------------------------------------------------- reviewer profiles


def test_a_generous_reviewer_is_found_out_and_corrected_for() -> None:
    reviews, truth = simulate(
        students=40, k=4, exercises=3, bias_sd=2, noise=(4, 6), seed=7, biases={5: 20.0}
    )
    result = aggregate(reviews)
    assert result.reviewers[5].bias == pytest.approx(20.0, abs=4.0)
    others = [p.bias for r, p in result.reviewers.items() if r != 5]
    assert max(abs(b) for b in others) < 10.0
    reviewed_by_5 = [rv.submission for rv in reviews if rv.reviewer == 5]
    err_mean = [abs(result.submissions[u].mean - truth[u]) for u in reviewed_by_5]
    err_corr = [abs(result.submissions[u].corrected - truth[u]) for u in reviewed_by_5]
    assert statistics.fmean(err_corr) < statistics.fmean(err_mean) - 2.0


def test_an_erratic_reviewer_gets_low_reliability_and_low_agreement() -> None:
    reviews, _ = simulate(students=40, k=4, exercises=3, bias_sd=0, noise=(3, 3), seed=9)
    rng = random.Random(1)
    reviews = [
        Review(rv.reviewer, rv.submission, rv.score + rng.gauss(0, 25)) if rv.reviewer == 3 else rv
        for rv in reviews
    ]
    result = aggregate(reviews)
    erratic = result.reviewers[3]
    steady = [p for r, p in result.reviewers.items() if r != 3]
    assert erratic.noise_sd > 3 * max(p.noise_sd for p in steady)
    assert erratic.precision < min(p.precision for p in steady)
    assert erratic.agreement is not None
    assert erratic.agreement < min(p.agreement or 1.0 for p in steady)
    assert all(0.0 < (p.agreement or 0.5) <= 1.0 for p in result.reviewers.values())


# --------------------------------------------------------------------------- accuracy


def test_pooled_correction_beats_the_median_when_reviewers_are_biased() -> None:
    reviews, truth = simulate(students=120, k=4, exercises=3, bias_sd=7, noise=(3, 12), seed=2024)
    median = method_rmse(reviews, truth, Method.MEDIAN)
    corrected = method_rmse(reviews, truth, Method.CORRECTED)
    assert corrected < 0.85 * median


def test_correction_costs_at_most_two_percent_when_reviewers_are_alike() -> None:
    reviews, truth = simulate(
        students=120, k=4, exercises=3, bias_sd=0, noise=(7.5, 7.5), seed=2024
    )
    median = method_rmse(reviews, truth, Method.MEDIAN)
    corrected = method_rmse(reviews, truth, Method.CORRECTED)
    assert corrected <= 1.02 * median


# --------------------------------------------------------------------------- properties

scores = st.floats(0, 100, allow_nan=False)


@st.composite
def review_sets(draw: st.DrawFn) -> list[Review]:
    n_subs = draw(st.integers(1, 12))
    reviewers = draw(st.integers(2, 8))
    out: list[Review] = []
    for sub in range(n_subs):
        chosen = draw(st.sets(st.integers(0, reviewers - 1), min_size=1, max_size=reviewers))
        out += [Review(r, sub, draw(scores)) for r in sorted(chosen)]
    return out


@settings(max_examples=150, deadline=None)
@given(review_sets(), st.floats(-50, 50, allow_nan=False))
def test_shifting_every_score_shifts_every_estimate(reviews: list[Review], c: float) -> None:
    wide = (-1000.0, 1000.0)
    before = aggregate(reviews, scale=wide)
    after = aggregate([Review(r.reviewer, r.submission, r.score + c) for r in reviews], scale=wide)
    for u, s in before.submissions.items():
        t = after.submissions[u]
        assert t.median == pytest.approx(s.median + c, abs=1e-6)
        assert t.mean == pytest.approx(s.mean + c, abs=1e-6)
        assert t.corrected == pytest.approx(s.corrected + c, abs=1e-3)
        assert t.disagreement == pytest.approx(s.disagreement, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(review_sets())
def test_estimates_are_sane_for_any_reviews(reviews: list[Review]) -> None:
    result = aggregate(reviews)
    for u, s in result.submissions.items():
        mine = [r.score for r in reviews if r.submission == u]
        assert min(mine) <= s.median <= max(mine)
        assert min(mine) - 1e-9 <= s.mean <= max(mine) + 1e-9
        assert 0.0 <= s.corrected <= 100.0
        assert s.n_reviews == len(mine)
    for p in result.reviewers.values():
        assert p.precision > 0 and math.isfinite(p.bias)
        assert p.agreement is None or 0.0 < p.agreement <= 1.0


@settings(max_examples=50, deadline=None)
@given(review_sets(), st.randoms(use_true_random=False))
def test_the_order_of_reviews_does_not_matter(reviews: list[Review], rnd: random.Random) -> None:
    shuffled = list(reviews)
    rnd.shuffle(shuffled)
    a, b = aggregate(reviews), aggregate(shuffled)
    for u, s in a.submissions.items():
        assert b.submissions[u].corrected == pytest.approx(s.corrected, abs=1e-6)
        assert b.submissions[u].median == s.median

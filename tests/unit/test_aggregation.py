"""Peer-score aggregation: plain statistics are right, and the corrected score earns its keep."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.peer.aggregation import Method, Review, _f_sf, aggregate, final_score


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


def test_without_evidence_to_tell_reviewers_apart_the_corrected_score_is_the_median() -> None:
    # Every reviewer scores one submission only: nothing to learn a bias or reliability from.
    reviews = [
        Review(r, sub, score)
        for sub, scores in {1: (50, 62, 71), 2: (80, 85, 93), 3: (40, 58, 60)}.items()
        for r, score in zip(range(sub * 10, sub * 10 + 3), scores, strict=True)
    ]
    result = aggregate(reviews)
    assert not result.correction_applied
    assert "too few reviews" in result.evidence
    assert [s.corrected for s in result.submissions.values()] == [62, 85, 58]
    assert all(p.bias == 0.0 for p in result.reviewers.values())


def test_reviewers_who_each_give_one_constant_total_leave_the_median() -> None:
    """Bias and quality cannot be told apart: the issue's 80, 80, 80 stays 80 (was 74.4)."""
    rng = random.Random(5)
    students = 30
    constant = {p: float(rng.choice([55, 60, 70, 75, 80, 85, 90, 95])) for p in range(students)}
    constant.update({0: 80.0, 1: 80.0, 2: 80.0})
    order = list(range(students))
    rng.shuffle(order)
    reviews = [
        Review(order[(i + shift) % students], author, constant[order[(i + shift) % students]])
        for i, author in enumerate(order)
        for shift in (1, 5, 11)
    ]
    # Someone is reviewed by 0, 1 and 2 (all 80) in the example.
    reviews = [rv for rv in reviews if rv.submission != 99] + [
        Review(r, 99, 80.0) for r in (0, 1, 2)
    ]
    result = aggregate(reviews)
    assert not result.correction_applied
    assert "cannot be told apart" in result.evidence
    assert result.submissions[99].corrected == 80.0
    for s in result.submissions.values():
        assert s.corrected == s.median
    assert len({s.corrected for s in result.submissions.values()}) > 3


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


def cyclic_cohort(
    *, students: int, k: int, exercises: int, bias_sd: float, noise: tuple[float, float], seed: int
) -> tuple[list[Review], dict[int, float], dict[int, float], dict[int, float]]:
    """Like ``simulate`` but with random shifts (a connected web of reviews), reviews kept on
    the scale, and the true biases and noise SDs returned for an oracle."""
    rng = random.Random(seed)
    bias = {p: rng.gauss(0.0, bias_sd) for p in range(students)}
    sd = {p: rng.uniform(*noise) for p in range(students)}
    reviews: list[Review] = []
    truth: dict[int, float] = {}
    for ex in range(exercises):
        order = list(range(students))
        rng.shuffle(order)
        shifts = rng.sample(range(1, students), k)
        for i, author in enumerate(order):
            sub = ex * students + author
            truth[sub] = rng.gauss(70.0, 10.0)
            for shift in shifts:
                r = order[(i + shift) % students]
                z = truth[sub] + bias[r] + rng.gauss(0.0, sd[r])
                reviews.append(Review(r, sub, min(100.0, max(0.0, z))))
    return reviews, truth, bias, sd


def oracle_rmse(
    reviews: list[Review], truth: dict[int, float], bias: dict[int, float], sd: dict[int, float]
) -> float:
    num: dict[int, float] = {}
    den: dict[int, float] = {}
    for rv in reviews:
        w = sd[rv.reviewer] ** -2
        num[rv.submission] = num.get(rv.submission, 0.0) + w * (rv.score - bias[rv.reviewer])
        den[rv.submission] = den.get(rv.submission, 0.0) + w
    return rmse({u: num[u] / den[u] for u in num}, truth)


@pytest.mark.parametrize("noise", [(3.0, 12.0), (7.5, 7.5)])
def test_on_small_unbiased_cohorts_it_is_rarely_worse_than_the_median(
    noise: tuple[float, float],
) -> None:
    """The issue's case (30 students, k=3, one exercise) in 40 seeds: at most 2 worse by 2%."""
    worse = 0
    for seed in range(40):
        reviews, truth, _, _ = cyclic_cohort(
            students=30, k=3, exercises=1, bias_sd=0.0, noise=noise, seed=seed
        )
        if method_rmse(reviews, truth, Method.CORRECTED) > 1.02 * method_rmse(
            reviews, truth, Method.MEDIAN
        ):
            worse += 1
    assert worse <= 2


@pytest.mark.parametrize(("exercises", "target"), [(1, 0.40), (3, 0.65)])
def test_with_biased_reviewers_it_closes_most_of_the_gap_to_the_oracle(
    exercises: int, target: float
) -> None:
    median = corrected = oracle = 0.0
    for seed in range(6):
        reviews, truth, bias, sd = cyclic_cohort(
            students=100, k=4, exercises=exercises, bias_sd=7.0, noise=(3, 12), seed=seed
        )
        median += method_rmse(reviews, truth, Method.MEDIAN)
        corrected += method_rmse(reviews, truth, Method.CORRECTED)
        oracle += oracle_rmse(reviews, truth, bias, sd)
    assert (median - corrected) / (median - oracle) >= target


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


@st.composite
def constant_reviewers(draw: st.DrawFn) -> list[Review]:
    """Any allocation in which each reviewer gives one total to everything they review."""
    n_subs = draw(st.integers(2, 25))
    n_reviewers = draw(st.integers(2, 12))
    totals = draw(st.lists(scores, min_size=n_reviewers, max_size=n_reviewers))
    out: list[Review] = []
    for sub in range(n_subs):
        chosen = draw(st.sets(st.integers(0, n_reviewers - 1), min_size=1, max_size=5))
        out += [Review(r, sub, totals[r]) for r in sorted(chosen)]
    return out


@settings(max_examples=100, deadline=None)
@given(constant_reviewers())
def test_constant_reviewers_always_leave_the_median(reviews: list[Review]) -> None:
    result = aggregate(reviews)
    assert not result.correction_applied
    for s in result.submissions.values():
        assert s.corrected == s.median


@settings(max_examples=50, deadline=None)
@given(review_sets(), st.randoms(use_true_random=False))
def test_relabelling_reviewers_and_submissions_changes_nothing(
    reviews: list[Review], rnd: random.Random
) -> None:
    people = sorted({r.reviewer for r in reviews})
    subs = sorted({r.submission for r in reviews})
    new_people = dict(zip(people, rnd.sample(range(1000), len(people)), strict=True))
    new_subs = dict(zip(subs, rnd.sample(range(1000), len(subs)), strict=True))
    a = aggregate(reviews)
    b = aggregate(
        [Review(new_people[r.reviewer], new_subs[r.submission], r.score) for r in reviews]
    )
    assert a.correction_applied == b.correction_applied
    for u, s in a.submissions.items():
        assert b.submissions[new_subs[u]].corrected == pytest.approx(s.corrected, abs=1e-6)
    for r, p in a.reviewers.items():
        assert b.reviewers[new_people[r]].bias == pytest.approx(p.bias, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(0.0, 10.0), (0.0, 100.0), (-5.0, 20.0)]))
def test_corrected_marks_stay_within_the_rubrics_range(
    seed: int, scale: tuple[float, float]
) -> None:
    lo, hi = scale
    reviews, _, _, _ = cyclic_cohort(
        students=20, k=3, exercises=2, bias_sd=15.0, noise=(3, 12), seed=seed
    )
    # Stretch 0-100 reviews onto the rubric's range, as the review form's totals are.
    reviews = [Review(r.reviewer, r.submission, lo + (hi - lo) * r.score / 100) for r in reviews]
    result = aggregate(reviews, scale=scale)
    assert all(lo <= s.corrected <= hi for s in result.submissions.values())


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_without_bias_the_correction_stays_within_the_noise_of_the_median(seed: int) -> None:
    reviews, _, _, _ = cyclic_cohort(
        students=30, k=3, exercises=2, bias_sd=0.0, noise=(4.0, 4.0), seed=seed
    )
    result = aggregate(reviews)
    gaps = [abs(s.corrected - s.median) for s in result.submissions.values()]
    # A review's noise is 4 points: the two estimates of one mark differ by far less.
    assert statistics.fmean(gaps) < 2.0


@pytest.mark.parametrize(
    ("f", "d1", "d2", "p"),
    [(4.965, 1, 10, 0.05), (2.711, 5, 20, 0.05), (1.0, 2, 2, 0.5), (0.0, 3, 7, 1.0)],
)
def test_the_evidence_checks_f_test_has_the_textbook_tail(
    f: float, d1: int, d2: int, p: float
) -> None:
    assert _f_sf(f, d1, d2) == pytest.approx(p, abs=2e-4)

"""What peer reviews add up to: median, mean, and a score corrected for reviewers' generosity.

The corrected score follows the PG1 model of Piech et al. (2013), "Tuned Models of Peer
Assessment in MOOCs": reviewer r scoring submission u reports z = s_u + b_r + noise, with
noise variance 1/tau_r.

It is never made on thin evidence. First a two-way analysis of variance (no priors) asks
whether there is room to learn anything (residual degrees of freedom), whether reviewers
differ by more than chance once the work they drew is allowed for (an F test), and whether
reviews vary within each reviewer at all: when every reviewer gives one constant total,
generosity and quality cannot be told apart, and a fit would give everyone the same mark.
Failing any, the corrected score is the median, which resists a wild review best.

Passing, the fit is mean-field variational EM with closed-form updates: biases get a
heavy-tailed N(0, bias_sd^2) prior, so each is shrunk toward 0 by its standard error
(bias_sd fitted: empirical Bayes), reliabilities a Gamma prior that shrinks each toward the
cohort's; a review far out of line counts as if it were 3 noise SDs out (Huber). True scores
get a flat prior on purpose: a student's mark is never pulled toward the cohort's average.
bench/bench_aggregation.py measures it against the median and an oracle.

Pure standard library (math, statistics): a module's reviews are a few thousand numbers.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "Aggregation",
    "Method",
    "Review",
    "ReviewerProfile",
    "SubmissionScore",
    "aggregate",
    "final_score",
]


class Method(enum.StrEnum):
    """How a submission's final peer score is chosen; the tutor picks one per exercise.

    ``corrected`` learns reviewers' generosity from the reviews of all the module's exercises
    that allow it (pooling: more evidence per reviewer); ``corrected_alone`` from this
    exercise's reviews only, and keeps them out of the other exercises' fits.
    """

    MEDIAN = "median"
    MEAN = "mean"
    CORRECTED = "corrected"
    CORRECTED_ALONE = "corrected_alone"

    @property
    def pools(self) -> bool:
        """Whether this exercise's reviews are fitted together with the module's others."""
        return self is not Method.CORRECTED_ALONE


@dataclass(frozen=True, slots=True)
class Review:
    """One peer score. ``submission`` must be unique across the exercises pooled together."""

    reviewer: int
    submission: int
    score: float


@dataclass(frozen=True, slots=True)
class SubmissionScore:
    submission: int
    n_reviews: int
    median: float
    mean: float
    corrected: float
    corrected_sd: float
    disagreement: float
    flagged: bool
    flag_reason: str | None


@dataclass(frozen=True, slots=True)
class ReviewerProfile:
    """What the fit learned about one reviewer, to weigh them and to give them feedback.

    ``bias``: how much higher than the truth they score, on average (0 when the evidence
    supported no correction). ``precision``: the
    reliability (1 / noise variance); ``noise_sd`` the same as a spread in points.
    ``agreement`` (0-1, like Moodle Workshop's grade for assessment): how close their scores
    are to what the other reviewers of the same work gave; None with nothing to compare.
    """

    reviewer: int
    n_reviews: int
    bias: float
    precision: float
    noise_sd: float
    agreement: float | None


@dataclass(frozen=True, slots=True)
class Aggregation:
    submissions: Mapping[int, SubmissionScore]
    reviewers: Mapping[int, ReviewerProfile]
    bias_sd: float
    noise_sd: float
    iterations: int
    converged: bool
    #: False when the evidence did not support a correction: ``corrected`` is then the median.
    correction_applied: bool = False
    #: Why, in words (the evidence check's outcome), for tests, benches and logs.
    evidence: str = ""


def final_score(
    method: Method | str,
    score: SubmissionScore,
    *,
    moderated: float | None = None,
) -> float:
    """The mark that counts: a tutor's moderated score if any, else the chosen method's."""
    if moderated is not None:
        return moderated
    match Method(method):
        case Method.MEDIAN:
            return score.median
        case Method.MEAN:
            return score.mean
        case Method.CORRECTED | Method.CORRECTED_ALONE:
            return score.corrected


def aggregate(
    reviews: Iterable[Review],
    *,
    scale: tuple[float, float] = (0.0, 100.0),
    disagreement_threshold: float | None = None,
    min_reviews: int = 2,
    bias_sd: float | None = None,
    reliability_strength: float | None = None,
    agreement_tolerance: float | None = None,
    max_iterations: int = 500,
    tolerance: float = 1e-6,
) -> Aggregation:
    """Score every reviewed submission three ways and profile every reviewer.

    Pass all the reviews of one exercise, or of several exercises of a module so each
    reviewer's bias and reliability are learned from more evidence. ``correction_applied``
    says whether the evidence supported a correction (else ``corrected`` is the median) and
    ``evidence`` why, in words.

    ``disagreement`` is the standard deviation of a submission's reviews; above
    ``disagreement_threshold`` (default 15% of the scale) or with fewer than ``min_reviews``
    reviews, the submission is flagged for moderation. ``bias_sd`` fixes the prior spread of
    reviewer biases and ``reliability_strength`` how many reviews' worth of evidence the
    shared reliability prior carries; left None, both are fitted. ``agreement_tolerance`` is
    the deviation from the other reviewers at which agreement falls to 0.5 (default 10% of
    the scale).
    """
    lo, hi = scale
    if hi <= lo:
        raise ValueError("scale must be (low, high) with low < high")
    span = hi - lo
    threshold = 0.15 * span if disagreement_threshold is None else disagreement_threshold
    agree_tol = 0.1 * span if agreement_tolerance is None else agreement_tolerance

    data = [(rv.reviewer, rv.submission, float(rv.score)) for rv in reviews]
    for _, _, z in data:
        if not math.isfinite(z):
            raise ValueError("review scores must be finite numbers")
    reviewer_ids = sorted({r for r, _, _ in data})
    submission_ids = sorted({u for _, u, _ in data})
    r_index = {r: i for i, r in enumerate(reviewer_ids)}
    u_index = {u: i for i, u in enumerate(submission_ids)}
    by_u: list[list[tuple[int, float]]] = [[] for _ in submission_ids]
    by_r: list[list[tuple[int, float]]] = [[] for _ in reviewer_ids]
    for r, u, z in data:
        ri, ui = r_index[r], u_index[u]
        by_u[ui].append((ri, z))
        by_r[ri].append((ui, z))

    if not data:
        return Aggregation(
            MappingProxyType({}), MappingProxyType({}), 0.0, 0.0, 0, True, False, "no reviews"
        )
    fit = _fit(by_u, by_r, span, bias_sd, reliability_strength, max_iterations, tolerance)

    submissions: dict[int, SubmissionScore] = {}
    for ui, u in enumerate(submission_ids):
        scores = [z for _, z in by_u[ui]]
        spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
        reason = None
        if len(scores) < min_reviews:
            reason = f"only {len(scores)} review(s), fewer than {min_reviews}"
        elif spread > threshold:
            reason = f"reviewers disagree: spread (SD) {spread:.1f} > {threshold:.1f}"
        submissions[u] = SubmissionScore(
            submission=u,
            n_reviews=len(scores),
            median=statistics.median(scores),
            mean=statistics.fmean(scores),
            corrected=min(hi, max(lo, fit.s[ui])),
            corrected_sd=math.sqrt(fit.s_var[ui]),
            disagreement=spread,
            flagged=reason is not None,
            flag_reason=reason,
        )

    profiles: dict[int, ReviewerProfile] = {}
    for ri, r in enumerate(reviewer_ids):
        profiles[r] = ReviewerProfile(
            reviewer=r,
            n_reviews=len(by_r[ri]),
            bias=fit.b[ri],
            precision=fit.tau[ri],
            noise_sd=1.0 / math.sqrt(fit.tau[ri]),
            agreement=_agreement(by_r[ri], by_u, ri, agree_tol),
        )
    return Aggregation(
        submissions=MappingProxyType(submissions),
        reviewers=MappingProxyType(profiles),
        bias_sd=fit.bias_sd,
        noise_sd=fit.noise_sd,
        iterations=fit.iterations,
        converged=fit.converged,
        correction_applied=fit.applied,
        evidence=fit.evidence,
    )


# --------------------------------------------------------------------------- the fit


@dataclass(frozen=True, slots=True)
class _Fit:
    s: list[float]
    s_var: list[float]
    b: list[float]
    tau: list[float]
    bias_sd: float
    noise_sd: float
    iterations: int
    converged: bool
    applied: bool = False
    evidence: str = ""


# Significance level of the evidence check: a correction is made only when reviewers'
# differences are this unlikely to be chance. Unbiased cohorts keep the median in about 19
# fits out of 20, and the few corrections made by chance are shrunk almost to nothing (the
# bench: worse than the median by > 2% in at most 1 seed in 40 for unbiased cohorts); 1%
# would forgo a correction in a fifth of small biased cohorts.
_ALPHA = 0.05

# Residual degrees of freedom (reviews - submissions - reviewers + connected groups) below
# which nothing can be said about noise, so nothing about bias either (k = 2 on one exercise
# has about 1).
_MIN_DOF = 8

# When reviews vary within each reviewer by less than this share of their total variance,
# every reviewer gives (nearly) one constant total: generosity and quality cannot be told
# apart, and a fit would explain everything by generosity and give everyone the same mark.
_MIN_WITHIN_SHARE = 0.05

# Degrees of freedom of the Student-t prior on biases: 4 is heavy-tailed enough to let a
# lone outlying marker through, yet close to Gaussian for the bulk.
_BIAS_DOF = 4.0

# A review further than this many noise SDs from what the fit expects counts as if it were at
# that distance (Huber's weights): one wild review moves a mark about as little as under the
# median, ordinary ones are used in full.
_HUBER = 3.0

# Bounds on the fitted shape of the reliability prior, which carries twice that many reviews'
# worth of evidence: at least 20, so a reviewer's own handful of reviews moves their weight
# only so far (on one exercise, weights from 3 or 4 reviews did worse than equal weights);
# 1000 means "every reviewer is equally reliable".
_ALPHA_MIN, _ALPHA_MAX = 10.0, 1000.0


def _fit(
    by_u: list[list[tuple[int, float]]],
    by_r: list[list[tuple[int, float]]],
    span: float,
    fixed_bias_sd: float | None,
    fixed_strength: float | None,
    max_iterations: int,
    tolerance: float,
) -> _Fit:
    """The corrected scores if the evidence supports a correction, else the medians.

    Either way the reviewers' reliabilities are fitted, for their profiles; without a
    correction their biases are reported as 0 (none was established).
    """
    n_u, n_r = len(by_u), len(by_r)
    n = sum(len(revs) for revs in by_u)
    floor_var = (1e-3 * span) ** 2  # below this, "no noise" is a rounding artefact
    check = _evidence(by_u, by_r, n, floor_var, max_iterations)
    if check.reason is None:
        fit = _model(
            by_u,
            n_r,
            span,
            check.s,
            check.noise_var,
            check.bias_var if fixed_bias_sd is None else max(fixed_bias_sd**2, 1e-12),
            fixed_bias_sd is not None,
            fixed_strength,
            max_iterations,
            tolerance,
        )
        return dataclasses.replace(fit, applied=True, evidence=check.summary)
    # No correction: reliabilities from a fit whose biases are held at 0.
    means = [statistics.fmean(z for _, z in revs) for revs in by_u]
    dof = n - n_u
    sse = sum((z - means[ui]) ** 2 for ui, revs in enumerate(by_u) for _, z in revs)
    pooled = max(floor_var, sse / dof) if dof > 0 else (0.1 * span) ** 2
    fit = _model(
        by_u, n_r, span, means, pooled, 1e-12 * span * span, True, fixed_strength, 50, 1e-4
    )
    return dataclasses.replace(
        fit,
        s=[statistics.median(z for _, z in revs) for revs in by_u],
        s_var=[math.pi / 2 * pooled / len(revs) for revs in by_u],
        b=[0.0] * n_r,
        bias_sd=0.0,
        evidence=check.reason,
    )


def _model(
    by_u: list[list[tuple[int, float]]],
    n_r: int,
    span: float,
    start: list[float],
    noise_var: float,
    bias_var: float,
    fixed_bias: bool,
    fixed_strength: float | None,
    max_iterations: int,
    tolerance: float,
) -> _Fit:
    """True scores with a flat prior, biases shrunk toward 0 by a prior whose spread is
    fitted (empirical Bayes), reliabilities shrunk toward the cohort's: mean-field updates of
    each in turn, in closed form."""
    floor_var = (1e-3 * span) ** 2
    s = list(start)
    b = [0.0] * n_r
    b_var = [0.0] * n_r
    lam = [1.0] * n_r  # per-reviewer scale of the bias prior (Student-t as a Gaussian mixture)
    tau = [1.0 / noise_var] * n_r
    s_var = [noise_var / len(revs) for revs in by_u]
    alpha = _ALPHA_MAX if fixed_strength is None else max(fixed_strength / 2.0, 1e-3)
    beta = _rate(alpha, noise_var)
    # Robust weight of each review, in by_u order.
    h_u = [[1.0] * len(revs) for revs in by_u]
    # Each reviewer's reviews in submission order, with where each sits in by_u.
    by_r: list[list[tuple[int, float]]] = [[] for _ in range(n_r)]
    pos_r: list[list[int]] = [[] for _ in range(n_r)]
    for ui, revs in enumerate(by_u):
        for j, (ri, z) in enumerate(revs):
            by_r[ri].append((ui, z))
            pos_r[ri].append(j)

    group = _components(by_u, n_r)
    n_groups = max(group) + 1
    iterations, converged = 0, False
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
        moved = 0.0
        # True scores, given biases and reliabilities: weighted mean of bias-removed reviews.
        for ui, revs in enumerate(by_u):
            hu = h_u[ui]
            p = sum(tau[ri] * h for (ri, _), h in zip(revs, hu, strict=True))
            new = sum(tau[ri] * h * (z - b[ri]) for (ri, z), h in zip(revs, hu, strict=True)) / p
            moved = max(moved, abs(new - s[ui]))
            s[ui] = new
            s_var[ui] = 1.0 / p
        # Biases, given true scores: each shrunk toward 0 by tau^2 / (tau^2 + its se^2).
        for ri, revs in enumerate(by_r):
            ws = [h_u[ui][j] for (ui, _), j in zip(revs, pos_r[ri], strict=True)]
            q = lam[ri] / bias_var + tau[ri] * sum(ws)
            new = tau[ri] * sum(w * (z - s[ui]) for (ui, z), w in zip(revs, ws, strict=True)) / q
            moved = max(moved, abs(new - b[ri]))
            b[ri] = new
            b_var[ri] = 1.0 / q
        # Alternating updates only slowly settle how a group's level splits between its
        # biases and its scores; the prior settles it at once: the biases' weighted mean
        # moves to the scores.
        shift = [0.0] * n_groups
        weight = [0.0] * n_groups
        for ri in range(n_r):
            shift[group[ri]] += lam[ri] * b[ri]
            weight[group[ri]] += lam[ri]
        shift = [x / w for x, w in zip(shift, weight, strict=True)]
        for ri in range(n_r):
            b[ri] -= shift[group[ri]]
        for ui in range(len(by_u)):
            s[ui] += shift[group[n_r + ui]]
        # Residuals are smaller than the noise by what the fit took from them: a review's
        # share of its submission's weight (its leverage) and the part of the reviewer's bias
        # the data determine. Each reviewer's squares are divided by what is left.
        scale = math.sqrt(noise_var)
        mean_sq: list[float] = []
        total_sq = total_dof = 0.0
        for ri, revs in enumerate(by_r):
            sq = 0.0
            left = -(1.0 - b_var[ri] * lam[ri] / bias_var)
            for (ui, z), j in zip(revs, pos_r[ri], strict=True):
                e = z - s[ui] - b[ri]
                sq += e * e
                left += 1.0 - tau[ri] * h_u[ui][j] * s_var[ui]
                h_u[ui][j] = min(1.0, _HUBER * scale / abs(e)) if e else 1.0
            left = max(left, 0.25 * len(revs))
            mean_sq.append(sq / left)
            total_sq += sq
            total_dof += left
        noise_var = max(floor_var, total_sq / total_dof)
        # Reliabilities, given both: each reviewer's mean squared residual, shrunk toward
        # the cohort's by the prior's strength.
        for ri, revs in enumerate(by_r):
            new = (alpha + len(revs) / 2.0) / (beta + len(revs) * mean_sq[ri] / 2.0)
            moved = max(moved, abs(1.0 / math.sqrt(new) - 1.0 / math.sqrt(tau[ri])))
            tau[ri] = new
        # Empirical Bayes for whatever the tutor did not fix.
        # Heavy tails: a reviewer whose bias stands far out gets a wider prior, so one very
        # generous (or harsh) marker is corrected fully instead of being shrunk to the pack.
        for ri in range(n_r):
            lam[ri] = (_BIAS_DOF + 1.0) / (_BIAS_DOF + (b[ri] ** 2 + b_var[ri]) / bias_var)
        if not fixed_bias:
            # MacKay's evidence update: far fewer rounds than plain EM when biases are ~0.
            # Less one degree of freedom per connected group, spent on its level (the biases
            # are centred on it), as REML does: otherwise the spread comes out too small on
            # a small cohort and every bias is shrunk too far.
            effective = sum(1.0 - v * w / bias_var for v, w in zip(b_var, lam, strict=True))
            spread = sum(w * x * x for x, w in zip(b, lam, strict=True))
            bias_var = max(
                1e-12 * span * span, spread / max(effective - n_groups, 0.5 * effective, 1e-9)
            )
        if fixed_strength is None:
            alpha = _alpha_by_moments(mean_sq, [len(revs) for revs in by_r], noise_var)
        beta = _rate(alpha, noise_var)
        if moved < tolerance * span:
            converged = True
            break
    return _Fit(
        s=s,
        s_var=s_var,
        b=b,
        tau=tau,
        bias_sd=math.sqrt(bias_var),
        noise_sd=math.sqrt(noise_var),
        iterations=iterations,
        converged=converged,
    )


@dataclass(frozen=True, slots=True)
class _Evidence:
    reason: str | None  # why no correction is made; None: make one
    summary: str
    s: list[float]
    noise_var: float
    bias_var: float


def _evidence(
    by_u: list[list[tuple[int, float]]],
    by_r: list[list[tuple[int, float]]],
    n: int,
    floor_var: float,
    max_iterations: int,
) -> _Evidence:
    """Is there evidence of reviewers' biases, and can it be told apart from quality?

    A two-way analysis of variance (score = quality + bias + noise, no priors): reviewers'
    biases must explain significantly more than the noise once submissions are allowed for
    (an F test), and reviews must vary within each reviewer, else bias and quality are
    confounded.
    """
    n_u, n_r = len(by_u), len(by_r)
    comps = max(_components(by_u, n_r)) + 1
    dof = n - n_u - n_r + comps
    if dof < _MIN_DOF or n_r - comps < 1:
        return _Evidence(
            "too few reviews per reviewer to tell their generosity from chance", "", [], 0.0, 0.0
        )
    grand = statistics.fmean(z for revs in by_u for _, z in revs)
    sst = sum((z - grand) ** 2 for revs in by_u for _, z in revs)
    means_r = [statistics.fmean(z for _, z in revs) for revs in by_r]
    sse_b = sum((z - means_r[ri]) ** 2 for ri, revs in enumerate(by_r) for _, z in revs)
    if sst <= floor_var * n or sse_b < _MIN_WITHIN_SHARE * sst * (n - n_r) / (n - 1):
        return _Evidence(
            "each reviewer gave (nearly) the same total to everything they reviewed, so their"
            " generosity cannot be told apart from the quality of the work",
            "",
            [],
            0.0,
            0.0,
        )
    # Least squares of the additive model, by alternating means (Gauss-Seidel).
    s = [statistics.fmean(z for _, z in revs) for revs in by_u]
    b = [0.0] * n_r
    for _ in range(max_iterations):
        moved = 0.0
        for ri, revs in enumerate(by_r):
            new = sum(z - s[ui] for ui, z in revs) / len(revs)
            moved = max(moved, abs(new - b[ri]))
            b[ri] = new
        for ui, revs in enumerate(by_u):
            s[ui] = sum(z - b[ri] for ri, z in revs) / len(revs)
        if moved < 1e-4 * math.sqrt(sst / n):  # ample for a test statistic
            break
    sse = sum((z - s[ui] - b[ri]) ** 2 for ui, revs in enumerate(by_u) for ri, z in revs)
    means_u = [statistics.fmean(z for _, z in revs) for revs in by_u]
    sse_s = sum((z - means_u[ui]) ** 2 for ui, revs in enumerate(by_u) for _, z in revs)
    noise_var = max(floor_var, sse / dof)
    df_b = n_r - comps
    f_b = max(0.0, sse_s - sse) / df_b / noise_var
    p_b = _f_sf(f_b, df_b, dof)
    summary = f"reviewers' differences F = {f_b:.2f} on ({df_b}, {dof}), p = {p_b:.2g}"
    if p_b >= _ALPHA:
        return _Evidence(
            f"reviewers differ no more than chance allows ({summary})", summary, [], 0.0, 0.0
        )
    # Starting spread of biases: what the raw ones spread beyond their sampling noise.
    spread = statistics.pvariance(b) if n_r > 1 else 0.0
    chance = statistics.fmean(noise_var / len(revs) for revs in by_r)
    return _Evidence(None, summary, s, noise_var, max(spread - chance, 0.25 * spread, floor_var))


def _components(by_u: list[list[tuple[int, float]]], n_r: int) -> list[int]:
    """Which connected group each reviewer, then each submission, is in (numbered from 0).

    Reviews link a reviewer to a submission; scores in different groups share no reviewer,
    so each group has its own level, which biases and quality cannot both claim.
    """
    parent = list(range(n_r + len(by_u)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ui, revs in enumerate(by_u):
        for ri, _ in revs:
            a, c = find(ri), find(n_r + ui)
            if a != c:
                parent[a] = c
    number: dict[int, int] = {}
    return [number.setdefault(find(x), len(number)) for x in range(len(parent))]


def _f_sf(f: float, d1: float, d2: float) -> float:
    """P(F > f) for F with (d1, d2) degrees of freedom."""
    if f <= 0.0:
        return 1.0
    if math.isinf(f):
        return 0.0
    return _beta_inc(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f))


def _beta_inc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b), by Lentz's continued fraction."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def _beta_cf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a - 1.0 + m2) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _rate(alpha: float, noise_var: float) -> float:
    # Prior mean of the noise variance (beta / (alpha - 1)) = the cohort's typical variance.
    return (alpha - 1.0) * noise_var if alpha > 1.0 else alpha * noise_var


def _alpha_by_moments(mean_sq: list[float], counts: list[int], mean_var: float) -> float:
    """Gamma shape for the precision prior from how much reviewers' noise really varies.

    The spread of per-reviewer mean squared residuals, minus what chance alone would give
    with that many reviews, estimates the spread of true noise variances; for an
    inverse-gamma variance, CV^2 = 1 / (shape - 2).
    """
    pairs = [(v, n) for v, n in zip(mean_sq, counts, strict=True) if n >= 2]
    if len(pairs) < 3:
        return _ALPHA_MAX
    values = [v for v, _ in pairs]
    observed = statistics.pvariance(values)
    chance = statistics.fmean(2.0 * v * v / (n + 2.0) for v, n in pairs)
    cv2 = max(0.0, observed - chance) / (mean_var * mean_var)
    if cv2 <= 1.0 / (_ALPHA_MAX - 2.0):
        return _ALPHA_MAX
    return max(_ALPHA_MIN, 2.0 + 1.0 / cv2)


def _agreement(
    own: list[tuple[int, float]],
    by_u: list[list[tuple[int, float]]],
    ri: int,
    tol: float,
) -> float | None:
    """1 / (1 + (d / tol)^2), d = RMS distance from the median of the other reviews."""
    sq: list[float] = []
    for ui, z in own:
        others = [x for rj, x in by_u[ui] if rj != ri]
        if others:
            sq.append((z - statistics.median(others)) ** 2)
    if not sq:
        return None
    d2 = statistics.fmean(sq)
    return 1.0 / (1.0 + d2 / (tol * tol))

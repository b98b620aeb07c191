"""The early warning on a simulated 10-week module with planted disengagement.

Students are normal (active, now and then missing one thing), steady but quiet (do every piece
of required work and little else), faders (stop at a random week), or have one bad week (miss
everything for a week, then come back). Each week ends with a discussion prompt due and a
tutorial; peer submissions are due in weeks 3, 6 and 9 and their reviews a week later.

At the end of every week the flags of ``bot.insights.warning.assess`` (default thresholds) are
compared with the truth: a fader is at risk from the week they stop. Prints recall and precision
per week over many simulated cohorts, and how often a steady quiet student was flagged (must be
never). Target: recall >= 0.8 by week 3 with precision >= 0.6.

    .venv/bin/python bench/bench_early_warning.py [--students 60] [--runs 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field

from bot.insights.thresholds import Thresholds
from bot.insights.warning import Missed, StudentActivity, assess

WEEKS = 10
SUBMISSION_WEEKS = (3, 6, 9)
REVIEWS_PER_EXERCISE = 2


@dataclass
class Sim:
    kind: str  # normal | quiet | fader | bad_week
    change_week: int = 0  # fader: first silent week; bad_week: the bad week
    events: list[float] = field(default_factory=list)  # days of any activity
    missed: list[tuple[float, str]] = field(default_factory=list)  # (due day, title)
    reviews_missed: list[tuple[float, str]] = field(default_factory=list)
    absent: list[tuple[float, str]] = field(default_factory=list)

    def silent(self, week: int) -> bool:
        if self.kind == "fader":
            return week >= self.change_week
        return self.kind == "bad_week" and week == self.change_week


def simulate_student(kind: str, rng: random.Random) -> Sim:
    sim = Sim(kind, change_week=rng.randint(2, 9) if kind in ("fader", "bad_week") else 0)
    quiet = kind == "quiet" or (kind == "fader" and rng.random() < 0.3)
    extra_rate = rng.uniform(0.5, 1.5) if quiet else rng.uniform(3, 8)
    for week in range(1, WEEKS + 1):
        start, end = 7.0 * (week - 1), 7.0 * week
        silent = sim.silent(week)
        scale = 0.05 if silent else 1.0
        # Activity beyond the required work: posts, replies, RSVPs.
        for _ in range(_poisson(rng, extra_rate * scale)):
            sim.events.append(rng.uniform(start, end))
        # The week's discussion prompt, due at the end of the week.
        miss_p = 0.97 if silent else (0.0 if kind == "quiet" else 0.05)
        if rng.random() < miss_p:
            sim.missed.append((end, f"Prompt {week}"))
        else:
            sim.events.append(rng.uniform(start, end - 0.01))
        if week in SUBMISSION_WEEKS:
            if rng.random() < (0.97 if silent else (0.0 if kind == "quiet" else 0.03)):
                sim.missed.append((end, f"Exercise {week // 3}"))
            else:
                sim.events.append(rng.uniform(start, end - 0.01))
        if week - 1 in SUBMISSION_WEEKS:
            for r in range(REVIEWS_PER_EXERCISE):
                if rng.random() < (0.97 if silent else (0.0 if kind == "quiet" else 0.05)):
                    sim.reviews_missed.append((end, f"Exercise {(week - 1) // 3} review {r + 1}"))
                else:
                    sim.events.append(rng.uniform(start, end - 0.01))
        # The weekly tutorial, mid-week: an RSVP, then attendance.
        going_p = 0.2 if quiet else 0.6
        if not silent and rng.random() < going_p:
            tutorial_day = start + 3.5
            sim.events.append(rng.uniform(start, tutorial_day))  # the RSVP
            if kind != "quiet" and rng.random() < 0.1:
                sim.absent.append((tutorial_day, f"Tutorial {week}"))
            else:
                sim.events.append(tutorial_day)  # the check-in
        elif silent and rng.random() < 0.3:
            # said "going" before fading, never came
            sim.absent.append((start + 3.5, f"Tutorial {week}"))
    sim.events.sort()
    return sim


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth: small rates only.
    import math

    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def activity_at(sim: Sim, person_id: int, week: int, t: Thresholds) -> StudentActivity:
    """What the service would gather at the end of ``week``."""
    now = 7.0 * week
    window = now - 7.0 * t.recent_weeks
    weekly = tuple(
        sum(1 for e in sim.events if 7.0 * (w - 1) <= e < 7.0 * w) for w in range(1, week + 1)
    )
    past = [e for e in sim.events if e < now]
    return StudentActivity(
        person_id=person_id,
        weekly=weekly,
        days_since_last=(now - past[-1]) if past else None,
        missed_deadlines=_missed(sim.missed, window, now),
        reviews_not_done=_missed(sim.reviews_missed, window, now),
        going_but_absent=_missed(sim.absent, window, now),
    )


def _missed(items: list[tuple[float, str]], window: float, now: float) -> tuple[Missed, ...]:
    return tuple(Missed(title, now - due) for due, title in items if window < due <= now)


def cohort(n: int, rng: random.Random) -> list[Sim]:
    kinds = ["fader"] * round(n * 0.15) + ["quiet"] * round(n * 0.2) + ["bad_week"] * round(n * 0.1)
    kinds += ["normal"] * (n - len(kinds))
    return [simulate_student(kind, rng) for kind in kinds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t = Thresholds()
    rng = random.Random(args.seed)
    tp = [0] * (WEEKS + 1)
    fp = [0] * (WEEKS + 1)
    fn = [0] * (WEEKS + 1)
    quiet_flags = quiet_seen = 0
    bad_flags = [0] * (WEEKS + 1)
    for _ in range(args.runs):
        sims = cohort(args.students, rng)
        for week in range(1, WEEKS + 1):
            flags = assess([activity_at(s, i, week, t) for i, s in enumerate(sims)], t)
            for sim, flag in zip(sims, flags, strict=True):
                at_risk = sim.kind == "fader" and sim.change_week <= week
                if flag.flagged and at_risk:
                    tp[week] += 1
                elif flag.flagged:
                    fp[week] += 1
                    if sim.kind == "bad_week":
                        bad_flags[week] += 1
                elif at_risk:
                    fn[week] += 1
                if sim.kind == "quiet":
                    quiet_seen += 1
                    quiet_flags += flag.flagged
    print(
        f"early warning: {args.runs} simulated cohorts of {args.students} students, "
        f"{WEEKS} weeks, default thresholds"
    )
    print("week  at risk  flagged  recall  precision  (false flags: one-bad-week students)")
    for week in range(1, WEEKS + 1):
        positives = tp[week] + fn[week]
        flagged = tp[week] + fp[week]
        recall = f"{tp[week] / positives:6.2f}" if positives else "     -"
        precision = f"{tp[week] / flagged:9.2f}" if flagged else "        -"
        print(
            f"{week:4d}  {positives:7d}  {flagged:7d}  {recall}  {precision}"
            f"  ({fp[week]} false, {bad_flags[week]} of them in a bad week)"
        )
    print(f"steady quiet students flagged: {quiet_flags} of {quiet_seen} student-weeks")
    w3_pos = tp[3] + fn[3]
    w3_flag = tp[3] + fp[3]
    recall3 = tp[3] / w3_pos if w3_pos else 0.0
    precision3 = tp[3] / w3_flag if w3_flag else 0.0
    ok = recall3 >= 0.8 and precision3 >= 0.6 and quiet_flags == 0
    print(
        f"week 3: recall {recall3:.2f} (target >= 0.8), precision {precision3:.2f} "
        f"(target >= 0.6): {'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()

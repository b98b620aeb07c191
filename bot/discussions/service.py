"""Graded discussion prompts: what tutors and students ask of them, as plain async functions.

Each function takes the command's session (one transaction: a refusal rolls everything back),
the resolved caller, the cohort and ``now`` from the bot's clock; it checks permissions against
the roster first, then input, then writes, and returns plain dataclasses for the adapter to
render. Scheduled work (opening, closing, release messages) is in ``bot.discussions.jobs``.
"""

from __future__ import annotations

from bot.discussions.extensions import ExtensionResult, grant_extension
from bot.discussions.grading import (
    GradeCsvResult,
    GradeResult,
    ScoreRow,
    ScoreTable,
    begin_grade_csv,
    grade,
    grade_csv,
    score_table,
)
from bot.discussions.prompts import (
    MAX_OPEN_DAYS,
    PromptDraft,
    PromptInfo,
    close_early,
    create_prompt,
    edit_prompt,
    list_prompts,
    prepare_prompt,
    prompt_for_edit,
)
from bot.discussions.release import ReleaseResult, release, release_delivery
from bot.discussions.students import (
    AnswerPlan,
    MyScore,
    MyScores,
    begin_answer,
    my_scores,
    submit_answer,
)

__all__ = [
    "MAX_OPEN_DAYS",
    "AnswerPlan",
    "ExtensionResult",
    "GradeCsvResult",
    "GradeResult",
    "MyScore",
    "MyScores",
    "PromptDraft",
    "PromptInfo",
    "ReleaseResult",
    "ScoreRow",
    "ScoreTable",
    "begin_answer",
    "begin_grade_csv",
    "close_early",
    "create_prompt",
    "edit_prompt",
    "grade",
    "grade_csv",
    "grant_extension",
    "list_prompts",
    "my_scores",
    "prepare_prompt",
    "prompt_for_edit",
    "release",
    "release_delivery",
    "score_table",
    "submit_answer",
]

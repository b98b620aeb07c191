"""Graded discussion prompts: rubric scoring, evidence recording, and the prompt life cycle.

Pure logic (no I/O): ``rubric`` (rules and scoring), ``text`` (word counts; splitting and
no pings are ``bot.text``, shared by every feature), ``answers`` (posts the bot makes for a
student), ``grades_csv``, ``render``.
Storage and services: ``recording`` (count-once evidence, edits, deletions, cursors),
``recorder`` (group commit and history backfill), ``scoring`` (scores from stored rows and the
ledger), ``service`` (what tutors and students ask), ``due`` (opening, closing, mark messages).

What other features use is this facade: the rubric and its scoring, which the gradebook's
reconciliation and loading apply to closed prompts (``from bot.discussions import Rubric``).
"""

from bot.discussions.rubric import PostFact, Rubric, RubricError, score_student

__all__ = ["PostFact", "Rubric", "RubricError", "score_student"]

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ()

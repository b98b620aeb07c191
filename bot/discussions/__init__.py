"""Graded discussion prompts: rubric scoring, evidence recording, and the prompt life cycle.

Pure logic (no I/O): ``rubric`` (rules and scoring), ``text`` (word counts; splitting and
no pings are ``bot.text``, shared by every feature, re-exported here), ``answers`` (posts the
bot makes for a student), ``grades_csv``, ``render``.
Storage and services: ``recording`` (count-once evidence, edits, deletions, cursors),
``recorder`` (group commit and history backfill), ``scoring`` (scores from stored rows and the
ledger), ``service`` (what tutors and students ask), ``due`` (opening, closing, mark messages).
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
#: ``text`` stays listed (for its ``bot.text`` re-exports) until peer/notices.py imports
#: ``bot.text`` itself.
PUBLIC_MODULES: tuple[str, ...] = ("render", "rubric", "text")

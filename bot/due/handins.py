"""Work handed in by a deadline, as tables: which items a person hands something in for, and
which rows say they did.

Discussion prompts (a post) and peer exercises (a submission) are the two kinds. Features that
count what was handed in, late or missed (the early warning, the dashboard's timeliness) read
both through ``HAND_INS`` instead of writing each query twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from bot.db.models import (
    Contribution,
    DiscussionPrompt,
    ExerciseStatus,
    PeerExercise,
    PeerSubmission,
    PromptStatus,
)
from bot.due.rules import ItemKind


@dataclass(frozen=True)
class HandIn:
    """One kind of handed-in work: the item table, its base due column and cancelled status;
    the hand-in table's item, person and late columns."""

    kind: ItemKind
    item: Any
    due: Any
    cancelled: Any
    item_id: Any
    person_id: Any
    late: Any

    def due_between(
        self, module_id: int, until: datetime, since: datetime | None = None
    ) -> Select[Any]:
        """(id, title, base due) of the module's items not cancelled and due by ``until``
        (and after ``since``), in id order."""
        stmt = select(self.item.id, self.item.title, self.due).where(
            self.item.module_id == module_id,
            self.item.status != self.cancelled,
            self.due <= until,
        )
        if since is not None:
            stmt = stmt.where(self.due > since)
        return stmt.order_by(self.item.id)


HAND_INS = (
    HandIn(
        ItemKind.PROMPT,
        DiscussionPrompt,
        DiscussionPrompt.closes_at,
        PromptStatus.CANCELLED,
        Contribution.prompt_id,
        Contribution.person_id,
        Contribution.late,
    ),
    HandIn(
        ItemKind.SUBMISSION,
        PeerExercise,
        PeerExercise.submission_due_at,
        ExerciseStatus.CANCELLED,
        PeerSubmission.exercise_id,
        PeerSubmission.person_id,
        PeerSubmission.late,
    ),
)

"""What the dashboard's pages show, read through the services and checked against the viewer.

Read-only: nothing here writes. Every function takes the ``Viewer`` (who is signed in) and
refuses what their role does not allow: tutors see their modules, programme admins every
module of their cohort, students only their own page.

This module is the feature's published entry point (``PUBLIC_MODULES``); the code lives in one
module per page (``page_*``), the viewer checks (``viewer``), the downloads and the shared
helpers, and is re-exported here so callers keep one import path.
"""

from __future__ import annotations

from bot.dashboard.downloads import module_export, programme_export
from bot.dashboard.page_exercise import AllocationRow, ExercisePage, ReviewerBias, exercise_page
from bot.dashboard.page_module import (
    MARK_BINS,
    ModulePage,
    Timeliness,
    TutorialTurnout,
    module_page,
)
from bot.dashboard.page_overview import ModuleSummary, Overview, overview
from bot.dashboard.page_student import (
    Evidence,
    ExtensionLine,
    LedgerLine,
    NoticeLine,
    StudentPage,
    student_page,
)
from bot.dashboard.shared import Upcoming
from bot.dashboard.viewer import NOT_YOURS, STUDENT_ONLY_OWN, Viewer, load_viewer

__all__ = [
    "MARK_BINS",
    "NOT_YOURS",
    "STUDENT_ONLY_OWN",
    "AllocationRow",
    "Evidence",
    "ExercisePage",
    "ExtensionLine",
    "LedgerLine",
    "ModulePage",
    "ModuleSummary",
    "NoticeLine",
    "Overview",
    "ReviewerBias",
    "StudentPage",
    "Timeliness",
    "TutorialTurnout",
    "Upcoming",
    "Viewer",
    "exercise_page",
    "load_viewer",
    "module_export",
    "module_page",
    "overview",
    "programme_export",
    "student_page",
]

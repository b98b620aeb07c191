"""Gradebook commands: the student's view, weights, release, adjustments, audit, imports, exports.

Every function takes the session of one command (so a refusal rolls everything back), the
resolved caller and the bot's clock time, checks the caller's role against the roster first,
and returns a plain result for the adapter to render.

The commands live beside this module, one per section (``my_marks``, ``weights``,
``adjustments``, ``trail``, ``component_import``, ``exporting``; shared lookups in ``scope``);
this module re-exports the names callers import.
"""

from __future__ import annotations

from bot.gradebook.adjustments import MAX_ADJUSTMENT, AdjustResult, adjust
from bot.gradebook.component_import import MAX_IMPORT_BYTES, ImportResult, import_components
from bot.gradebook.exporting import (
    TERM_ORDER,
    build_module_export,
    build_programme_export,
    check_format,
    export_module,
    export_programme,
)
from bot.gradebook.my_marks import SummaryView, student_marks
from bot.gradebook.trail import ITEM_CODES, AuditLine, AuditTrail, audit_trail, parse_item_ref
from bot.gradebook.weights import ReleaseResult, WeightsResult, release_participation, set_weights

__all__ = [
    "ITEM_CODES",
    "MAX_ADJUSTMENT",
    "MAX_IMPORT_BYTES",
    "TERM_ORDER",
    "AdjustResult",
    "AuditLine",
    "AuditTrail",
    "ImportResult",
    "ReleaseResult",
    "SummaryView",
    "WeightsResult",
    "adjust",
    "audit_trail",
    "build_module_export",
    "build_programme_export",
    "check_format",
    "export_module",
    "export_programme",
    "import_components",
    "parse_item_ref",
    "release_participation",
    "set_weights",
    "student_marks",
]

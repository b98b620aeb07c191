"""Quality points and feedback from a tutor's CSV file (pure: no I/O, no database).

The file the ``/prompt scores`` table attaches is a valid upload: a tutor fills in
``quality_points`` and ``feedback`` and sends it back. Students are named by any one of
``student_number``, ``discord`` (username or id) or ``email``. A row with neither quality nor
feedback is skipped (the exported table lists every student). Every problem is collected, with
its line, so the tutor fixes the file in one pass; the service then refuses the whole file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.csv_input import csv_records
from bot.csv_output import as_written
from bot.errors import shown

__all__ = ["MAX_CSV_BYTES", "MAX_FEEDBACK_CHARS", "GradeRow", "GradesFile", "parse_grades_csv"]

MAX_CSV_BYTES = 1_000_000
MAX_FEEDBACK_CHARS = 1000
IDENTIFIERS = ("student_number", "discord", "email")
_QUALITY = ("quality_points", "quality")
_KNOWN_EXTRA = {"name", "score", "max", "explanation", "late", "notes", "student"}


@dataclass(frozen=True)
class GradeRow:
    line: int
    id_column: str
    identifier: str
    quality: Decimal | None
    feedback: str | None


@dataclass(frozen=True)
class GradesFile:
    rows: list[GradeRow]
    errors: list[str]


def _normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_").lstrip("\ufeff")


def parse_grades_csv(data: bytes) -> GradesFile:
    """Rows to apply and every problem found ("line 4: quality 'x' is not a number")."""
    if len(data) > MAX_CSV_BYTES:
        return GradesFile([], [f"the file is over {MAX_CSV_BYTES // 1000} kB"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return GradesFile([], ["the file is not UTF-8 text; save it as CSV UTF-8"])
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[str] = []
    rows: list[GradeRow] = []
    try:
        header = next(reader)
    except StopIteration:
        return GradesFile([], ["the file is empty: expected a header line"])
    except csv.Error as exc:
        return GradesFile([], [f"line 1: cannot read CSV ({exc})"])
    columns = {_normal(name): i for i, name in enumerate(header) if name.strip()}
    id_column = next((c for c in IDENTIFIERS if c in columns), None)
    quality_column = next((c for c in _QUALITY if c in columns), None)
    if id_column is None:
        errors.append("line 1: name students in a student_number, discord or email column")
    if quality_column is None and "feedback" not in columns:
        errors.append("line 1: expected a quality_points and/or a feedback column")
    unknown = sorted(set(columns) - set(IDENTIFIERS) - set(_QUALITY) - {"feedback"} - _KNOWN_EXTRA)
    if unknown:
        errors.append(f"line 1: unknown column {shown(unknown[0])}")
    if errors:
        return GradesFile([], errors)
    assert id_column is not None
    seen: dict[str, int] = {}
    for _, record in csv_records(reader, errors):
        line = reader.line_num

        def cell(name: str | None, record: list[str] = record) -> str:
            if name is None or columns[name] >= len(record):
                return ""
            return as_written(record[columns[name]].strip())

        identifier = cell(id_column)
        quality_text = cell(quality_column)
        feedback = cell("feedback") if "feedback" in columns else ""
        if not quality_text and not feedback:
            continue
        if not identifier:
            errors.append(f"line {line}: the {id_column} is empty")
            continue
        key = identifier.lower().lstrip("@")
        if key in seen:
            errors.append(f"line {line}: {identifier} already appears on line {seen[key]}")
            continue
        seen[key] = line
        quality: Decimal | None = None
        if quality_text:
            try:
                quality = Decimal(quality_text)
            except InvalidOperation:
                errors.append(f"line {line}: quality {shown(quality_text)} is not a number")
                continue
            if not quality.is_finite():
                errors.append(f"line {line}: quality {shown(quality_text)} is not a number")
                continue
        if len(feedback) > MAX_FEEDBACK_CHARS:
            errors.append(
                f"line {line}: the feedback is {len(feedback)} characters; "
                f"the limit is {MAX_FEEDBACK_CHARS}"
            )
            continue
        rows.append(GradeRow(line, id_column, identifier, quality, feedback or None))
    if not rows and not errors:
        errors.append("no row gives a quality mark or feedback")
    return GradesFile(rows, errors)

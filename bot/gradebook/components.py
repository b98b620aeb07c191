"""Parse a CSV of other component marks (coursework, exam...) for the module mark preview.

Pure logic. The file has a header row and the columns ``student`` (student number or Discord
username), ``component``, ``weight`` and ``mark`` (0-100), in any order. The import is
all-or-nothing: any problem refuses the whole file and names the lines.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from bot.errors import UserError

REQUIRED = ("student", "component", "weight", "mark")
MAX_ROWS = 50_000
_MAX_SHOWN = 4


class ComponentImportError(UserError):
    """The component-marks file cannot be imported; the sentence lists the first problems."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:_MAX_SHOWN])
        more = f"; and {len(problems) - _MAX_SHOWN} more" if len(problems) > _MAX_SHOWN else ""
        super().__init__(f"The file was not imported and nothing changed: {shown}{more}.")
        self.problems = problems


@dataclass(frozen=True)
class ComponentRow:
    line: int
    student: str
    component: str
    weight: Decimal
    mark: Decimal


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def parse_component_csv(text: str) -> list[ComponentRow]:
    if not text.strip():
        raise ComponentImportError(["the file is empty"])
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise ComponentImportError(["the file has no header row"]) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ComponentImportError(
            [f"line 1: missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)})"]
        )
    index = {name: header.index(name) for name in REQUIRED}
    problems: list[str] = []
    rows: list[ComponentRow] = []
    weights: dict[str, tuple[Decimal, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    try:
        records = list(enumerate(reader, start=2))
    except csv.Error as exc:
        raise ComponentImportError([f"the CSV cannot be read ({exc})"]) from None
    if len(records) > MAX_ROWS:
        raise ComponentImportError([f"the file has more than {MAX_ROWS} rows"])
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue
        if len(record) < len(header):
            problems.append(f"line {line}: expected {len(header)} columns, found {len(record)}")
            continue
        student = record[index["student"]].strip().lstrip("@")
        component = " ".join(record[index["component"]].split())
        weight = _number(record[index["weight"]])
        mark = _number(record[index["mark"]])
        if not student:
            problems.append(f"line {line}: the student is empty")
        if not component or len(component) > 64:
            problems.append(f"line {line}: the component needs a name of 1 to 64 characters")
        elif component.lower() == "participation":
            problems.append(
                f"line {line}: participation is computed by the bot; set its share with "
                "/gradebook weights"
            )
        if weight is None or not (0 < weight <= 1000):
            problems.append(f"line {line}: the weight must be a number above 0 (up to 1000)")
        if mark is None or not (0 <= mark <= 100):
            problems.append(f"line {line}: the mark must be a number from 0 to 100")
        if problems and problems[-1].startswith(f"line {line}:"):
            continue
        assert weight is not None and mark is not None
        if mark != mark.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
            problems.append(f"line {line}: the mark can have at most 2 decimals")
            continue
        key = (student.lower(), component.lower())
        if key in seen:
            problems.append(
                f"line {line}: {student} already has a {component} mark on line {seen[key]}"
            )
            continue
        seen[key] = line
        previous = weights.get(component.lower())
        if previous is not None and previous[0] != weight:
            problems.append(
                f"line {line}: {component} has weight {weight} here but {previous[0]} on "
                f"line {previous[1]}; give each component one weight"
            )
            continue
        weights.setdefault(component.lower(), (weight, line))
        rows.append(ComponentRow(line, student, component, weight, mark))
    if problems:
        raise ComponentImportError(problems)
    if not rows:
        raise ComponentImportError(["the file has no marks"])
    return rows

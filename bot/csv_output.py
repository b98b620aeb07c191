"""Files a tutor opens in a spreadsheet: discussion scores, team lists, gradebook exports and
the audit trail.

Every text cell goes through ``formula_safe``: a spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some strip first) as a
formula, so a student named ``=HYPERLINK(...)`` would become a live link. Such a cell gets a
leading apostrophe, which spreadsheets read as "this is text"; numbers like ``-2.5`` stay
numbers. ``as_written`` undoes it for a file the bot wrote coming back (the scores CSV a tutor
fills in and uploads with ``/prompt grade-csv``). The files are written in the csv module's
default dialect (the gradebook's with ``\n`` line ends): a header line, then one line per row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

__all__ = ["as_written", "csv_text", "formula_safe"]

_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def formula_safe(cell: str) -> str:
    """Text a spreadsheet will not run as a formula (a name like "=cmd" stays text)."""
    if _FORMULA_START.match(cell) and not _is_number(cell):
        return "'" + cell
    return cell


def as_written(cell: str) -> str:
    """The text ``formula_safe`` was given: its apostrophe taken off again."""
    if cell.startswith("'") and formula_safe(cell[1:]) == cell:
        return cell[1:]
    return cell


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _cell(value: object) -> object:
    return formula_safe(value) if isinstance(value, str) else value


def csv_text(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, line_end: str = "\r\n"
) -> str:
    """The text of a CSV file: ``header``, then ``rows``, every text cell formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow([_cell(h) for h in header])
    writer.writerows([_cell(c) for c in row] for row in rows)
    return out.getvalue()

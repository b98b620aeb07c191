"""Gradebook exports for the programme office: CSV (reproducible byte for byte) and XLSX.

The same data always gives the same CSV bytes: rows and columns in a stable order, Decimals
written as plain numbers ("9.5", never "9.50000" or "9.5E+0"), no export time inside the body,
``\\n`` line endings, UTF-8 with a byte-order mark (so Excel reads accented names right).
Both writers make every text cell formula-safe (``bot.csv_output.formula_safe``), so the
tables hold plain values. The columns are documented in docs/gradebook.md.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.csv_output import csv_text, formula_safe
from bot.gradebook.book import format_points
from bot.gradebook.classification import ClassificationResult
from bot.gradebook.loading import ModuleBook
from bot.gradebook.marks import COMPONENT_LABELS, Component, format_mark

__all__ = [
    "ExportFile",
    "ProgrammeRow",
    "module_table",
    "programme_table",
    "render",
]

FORMATS = ("csv", "xlsx")
Table = tuple[list[str], list[list[str]]]


@dataclass(frozen=True)
class ExportFile:
    filename: str
    data: bytes
    students: int
    columns: int
    summary: str


def _mark(value: Decimal | None) -> str:
    return "" if value is None else format_mark(value)


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def module_table(book: ModuleBook) -> Table:
    """Header and rows of a module's gradebook (the documented column order)."""
    header = ["student_number", "name", "discord", "enrolment"]
    header += [c.header for c in book.columns]
    active = [c for c in Component if book.scheme.scheme.weights[c] > 0]
    for c in active:
        label = COMPONENT_LABELS[c].lower()
        header += [f"{label} earned", f"{label} available"]
    header += ["participation mark", "status", "late", "extensions"]
    components = list(book.component_weights)
    header += [
        f"component: {name} (weight {format_points(book.component_weights[name])})"
        for name in components
    ]
    if components or book.scheme.participation_share:
        header.append("module mark")
    status = book.status_label
    layout = book.layout
    rows: list[list[str]] = []
    for s in book.students:
        row = [s.student_number or "", s.name, s.username or ""]
        row.append(s.status.value)
        row += s.book.row_texts(layout)
        for c in active:
            t = s.book.totals.get(c)
            row += ["", ""] if t is None else [format_points(t.earned), format_points(t.available)]
        row.append(_mark(s.book.mark.mark))
        row.append(status)
        row.append("; ".join(s.book.late))
        row.append("; ".join(f"{code} until {_when(when)}" for code, when in s.book.extensions))
        row += [_mark(s.components.get(name)) for name in components]
        if components or book.scheme.participation_share:
            row.append(_mark(s.module_mark.mark if s.module_mark is not None else None))
        rows.append(row)
    return header, rows


def items_table(book: ModuleBook) -> Table:
    """The second sheet of an XLSX export: what each item column is."""
    header = ["column", "item", "title", "part", "available", "due", "status", "counts"]
    rows = [
        [
            c.header,
            c.item.code,
            c.item.title,
            COMPONENT_LABELS[c.part.component],
            format_points(c.part.available),
            _when(c.item.due_at) if c.item.due_at is not None else "",
            c.item.status,
            "yes" if c.part.counted else "not yet",
        ]
        for c in book.columns
    ]
    return header, rows


@dataclass(frozen=True)
class ProgrammeRow:
    student_number: str | None
    name: str
    username: str | None
    participation: dict[str, Decimal | None]
    module_marks: dict[str, Decimal | None]
    classification: ClassificationResult | None


def programme_table(module_codes: Sequence[str], rows: Sequence[ProgrammeRow]) -> Table:
    header = ["student_number", "name", "discord"]
    for code in module_codes:
        header += [f"{code} participation", f"{code} module mark"]
    header += ["classification", "classification reasons"]
    body: list[list[str]] = []
    for r in rows:
        row = [r.student_number or "", r.name, r.username or ""]
        for code in module_codes:
            row += [_mark(r.participation.get(code)), _mark(r.module_marks.get(code))]
        if r.classification is None:
            row += ["", ""]
        else:
            row += [r.classification.label, " | ".join(r.classification.reasons)]
        body.append(row)
    return header, body


def to_csv(table: Table) -> bytes:
    """The CSV bytes of one table (formula-safe, ``\\n`` line ends, byte-order mark)."""
    header, rows = table
    return b"\xef\xbb\xbf" + csv_text(header, rows, line_end="\n").encode("utf-8")


def to_xlsx(sheets: Sequence[tuple[str, Table]], as_of: datetime) -> bytes:
    """One worksheet per table; numbers are stored as numbers, the rest as text.

    Reproducible like the CSV: openpyxl stamps the file and every zip entry with the time of
    saving, so the stamps are set to the export's as-of time instead (the same data as of the
    same moment gives the same bytes).
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, (header, rows) in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append([formula_safe(h) for h in header])
        for row in rows:
            sheet.append([_xlsx_value(formula_safe(c)) for c in row])
    out = io.BytesIO()
    workbook.save(out)
    return _stamped(out.getvalue(), as_of)


_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _stamped(data: bytes, as_of: datetime) -> bytes:
    moment = as_of.astimezone(UTC).replace(microsecond=0)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    date_time = (max(moment.year, 1980), *moment.timetuple()[1:6])
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            content = source.read(entry)
            if entry.filename == "docProps/core.xml":
                content = _CORE_DATES.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            info = zipfile.ZipInfo(entry.filename, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = entry.external_attr
            target.writestr(info, content)
    return out.getvalue()


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _xlsx_value(cell: str) -> int | float | str:
    """Numbers as numbers (Excel keeps every number as a double: 2 decimals survive exactly)."""
    if not cell or not _NUMBER.match(cell):
        return cell
    return float(cell) if "." in cell else int(cell)


def render(
    fmt: str, name: str, sheets: Sequence[tuple[str, Table]], as_of: datetime
) -> tuple[str, bytes]:
    """The file for ``fmt``: CSV holds the first table only; XLSX holds every table."""
    if fmt == "csv":
        return f"{name}.csv", to_csv(sheets[0][1])
    return f"{name}.xlsx", to_xlsx(sheets, as_of)

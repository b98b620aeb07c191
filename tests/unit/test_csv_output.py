"""Every CSV the bot writes keeps a cell a spreadsheet would run as a formula as plain text,
and is otherwise written exactly as the csv module writes it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from bot.csv_output import as_written, csv_text, formula_safe
from bot.discussions.grades_csv import parse_grades_csv
from bot.gradebook.export import to_csv, to_xlsx
from bot.gradebook.trail import AuditLine, AuditTrail

LINK = '=HYPERLINK("https://evil.example","Open")'
HEADER = ["name", "score", "feedback"]
PLAIN: list[list[object]] = [
    ["Amara Okafor", "7.5", 'Said "clear", then more'],
    ["Zoë Hartmann", -2, None],
]


def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe_and_numbers_stay_numbers() -> None:
    for cell in (LINK, "+1+cmd", "-A1", "@SUM(A1:A3)", "\t=1", "\r=1"):
        assert formula_safe(cell) == "'" + cell
        assert as_written(formula_safe(cell)) == cell
    for cell in ("-2.5", "+3", "Amara", "", "'quoted already", "a=b"):
        assert formula_safe(cell) == cell
        assert as_written(cell) == cell


def test_a_file_without_formula_text_is_what_the_csv_module_writes() -> None:
    expected = io.StringIO()
    writer = csv.writer(expected)
    writer.writerow(HEADER)
    writer.writerows(PLAIN)
    assert csv_text(HEADER, PLAIN) == expected.getvalue()


def test_a_formula_name_comes_out_as_text_and_the_rest_of_its_row_unchanged() -> None:
    rows = list(csv.reader(io.StringIO(csv_text(HEADER, [[LINK, "7.5", "-3 for lateness"]]))))
    assert rows == [HEADER, ["'" + LINK, "7.5", "'-3 for lateness"]]


def test_the_audit_trail_csv_keeps_formula_text_as_text() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    line = AuditLine(at, LINK, "quality.set", "prompt #3", "@amara", "1", "-1.5", "+cmd|' /C calc")
    header, rows = AuditTrail("MATH70097", "the module", (line,)).csv_rows()
    data = to_csv((header, rows)).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(data)))[1] == [
        "2026-03-02 10:00:00 UTC",
        "'" + LINK,
        "quality.set",
        "prompt #3",
        "'@amara",
        "1",
        "-1.5",
        "'+cmd|' /C calc",
    ]


def test_the_xlsx_export_stores_formula_text_as_text() -> None:
    data = to_xlsx([("Gradebook", (["name", "mark"], [[LINK, "-2.5"]]))], datetime.now(UTC))
    sheet = load_workbook(io.BytesIO(data), read_only=True)["Gradebook"]
    assert list(sheet.iter_rows(values_only=True))[1] == ("'" + LINK, -2.5)


def test_feedback_in_a_scores_file_sent_back_loses_the_apostrophe_the_export_added() -> None:
    exported = csv_text(
        ["discord", "quality_points", "feedback"],
        [["amara.codes", "3", "- tidy method\n- cite sources"], ["lukasb_92", "", "'fine'"]],
    )
    parsed = parse_grades_csv(exported.encode())
    assert parsed.errors == []
    assert [r.feedback for r in parsed.rows] == ["- tidy method\n- cite sources", "'fine'"]

"""The XLSX export is reproducible like the CSV: same data, same as-of time, same bytes."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime

from openpyxl import load_workbook

from bot.gradebook.export import Table, to_xlsx

AS_OF = datetime(2026, 4, 20, 8, 0, 30, tzinfo=UTC)
TABLE: Table = (["student", "mark"], [["Amara Okafor", "71.5"], ["Lukas Brandt", "64"]])


def test_the_same_data_as_of_the_same_time_gives_the_same_xlsx_bytes() -> None:
    first = to_xlsx([("Gradebook", TABLE)], AS_OF)
    time.sleep(2.1)  # openpyxl would stamp the saving time (zip entries have 2 s resolution)
    assert to_xlsx([("Gradebook", TABLE)], AS_OF) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        core = archive.read("docProps/core.xml").decode()
        assert {i.date_time for i in archive.infolist()} == {(2026, 4, 20, 8, 0, 30)}
    assert "2026-04-20T08:00:30Z</dcterms:created>" in core
    assert "2026-04-20T08:00:30Z</dcterms:modified>" in core
    book = load_workbook(io.BytesIO(first), read_only=True)  # still a valid workbook
    rows = list(book["Gradebook"].iter_rows(values_only=True))
    assert rows == [("student", "mark"), ("Amara Okafor", 71.5), ("Lukas Brandt", 64)]
    assert book.properties.modified == AS_OF.replace(tzinfo=None)


def test_a_different_as_of_time_is_the_only_difference() -> None:
    later = to_xlsx([("Gradebook", TABLE)], AS_OF.replace(hour=9))
    assert later != to_xlsx([("Gradebook", TABLE)], AS_OF)

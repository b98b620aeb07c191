"""Reading an uploaded CSV file record by record (roster import, discussion grades).

Every import reads the same way: blank lines are skipped, and the first line the csv module
cannot read ends the file with one error naming it (what follows cannot be trusted), so the
import is refused as a whole rather than half applied.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Protocol

__all__ = ["csv_records"]


class CsvReader(Protocol):
    """What ``csv.reader`` returns, as far as this module uses it."""

    @property
    def line_num(self) -> int: ...

    def __next__(self) -> list[str]: ...


def csv_records(reader: CsvReader, errors: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Each record holding any text, with the line it starts on (``reader.line_num`` is where
    it ends); an unreadable line is added to ``errors`` and ends the file."""
    last_line = 0
    while True:
        start = last_line + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: cannot read CSV ({exc})")
            return
        last_line = reader.line_num
        if any(cell.strip() for cell in record):
            yield start, record

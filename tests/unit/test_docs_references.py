"""The docs name only code that exists.

A reader follows a name in the README or ``docs/`` to the code; a module renamed or split (as
the large services were) must not leave the docs pointing at nothing. Every back-quoted
reference that starts with one of the project's packages is checked: a path (``bot/outbox/``,
``bench/bench_marks.py``) must exist, and a dotted name (``bot.due.eligibility``,
``bot.gradebook.ledger.credit``) must import and resolve attribute by attribute.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
PACKAGES = ("bot", "cogs", "slackapp", "cohortlab", "tests", "bench", "tools")
REFERENCE = re.compile(r"`((?:" + "|".join(PACKAGES) + r")[./][A-Za-z0-9_./]*)`")

#: Named in the benchmark record as code that stayed on a branch ("not on main"), on purpose.
HISTORICAL = {("benchmarks.md", "bench/bench_recorder_loop.py")}


def references() -> list[tuple[str, int, str]]:
    found = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for ref in REFERENCE.findall(line):
                found.append((doc.name, number, ref.rstrip(".")))
    return found


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a module followed by attributes, that exists."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: ModuleType | object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def exists(ref: str) -> bool:
    return (ROOT / ref).exists() if "/" in ref else resolves(ref)


def test_the_docs_name_code_at_all() -> None:
    """The check below has something to check (the pattern still matches the docs' style)."""
    assert len(references()) > 50


def test_every_module_and_file_the_docs_name_exists() -> None:
    missing = [
        f"{doc}:{line}: {ref}"
        for doc, line, ref in references()
        if (doc, ref) not in HISTORICAL and not exists(ref)
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("bot.due.eligibility", True),
        ("bot.gradebook.ledger.credit", True),
        ("bot/outbox/sender.py", True),
        ("bot.calendar.service.no_such_rule", False),
        ("bot.no_such_package", False),
        ("bot/no_such_file.py", False),
    ],
)
def test_the_check_tells_a_real_name_from_a_stale_one(ref: str, expected: bool) -> None:
    assert exists(ref) is expected

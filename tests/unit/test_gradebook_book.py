"""The gradebook's pure parts: items and cells, the export table, component CSVs, item codes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db.models import EnrolmentStatus, Module
from bot.errors import UserError
from bot.gradebook.book import (
    Item,
    ItemPart,
    ItemType,
    Layout,
    StudentRecord,
    build_student_book,
    canonical_item_type,
    format_points,
    ledger_key,
    to_milli,
    unlisted_items,
)
from bot.gradebook.components import ComponentImportError, parse_component_csv
from bot.gradebook.export import module_table, to_csv
from bot.gradebook.loading import ModuleBook, SchemeInfo, StudentRow
from bot.gradebook.marks import DEFAULT_SCHEME, Component, MarkScheme, participation_mark
from bot.gradebook.service import parse_item_ref

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D, PR, PS, A = (
    Component.DISCUSSION,
    Component.PEER_REVIEW,
    Component.PEER_SCORE,
    Component.ATTENDANCE,
)


def prompt(pid: int, available: str = "12", counted: bool = True, title: str = "Week") -> Item:
    return Item(
        ItemType.PROMPT,
        pid,
        f"{title} {pid}",
        NOW - timedelta(days=10 - pid),
        "closed" if counted else "open",
        (ItemPart(D, Decimal(available), counted),),
    )


def exercise(eid: int, reviews_over: bool = True, released: bool = True) -> Item:
    return Item(
        ItemType.EXERCISE,
        eid,
        f"Exercise {eid}",
        NOW - timedelta(days=3),
        "released" if released else "open",
        (ItemPart(PR, Decimal(3), reviews_over), ItemPart(PS, Decimal(100), released)),
        released,
    )


def tutorial(oid: int, held: bool = True) -> Item:
    return Item(
        ItemType.OCCURRENCE,
        oid,
        f"Tutorial {oid}",
        NOW - timedelta(days=20 - oid),
        "held" if held else "upcoming",
        (ItemPart(A, Decimal(1), held),),
    )


def earned(**cells: str) -> dict[tuple[str, int, str], int]:
    """earned(prompt_1_discussion="9") -> {("prompt", 1, "discussion"): 9000}."""
    out = {}
    for name, points in cells.items():
        kind, ident, component = name.split("_", 2)
        out[(kind, int(ident), component)] = to_milli(Decimal(points))
    return out


def test_book_totals_and_mark_follow_the_counted_items() -> None:
    items = [prompt(1), prompt(2), prompt(3, counted=False), exercise(4), tutorial(5)]
    record = StudentRecord(
        7,
        earned(
            prompt_1_discussion="9",
            prompt_2_discussion="4",
            prompt_3_discussion="6",  # still open: shown, not counted
            exercise_4_peer_review="2",
            exercise_4_peer_score="71.5",
            occurrence_5_attendance="1",
        ),
    )
    layout = Layout(items)
    book = build_student_book(layout, record, DEFAULT_SCHEME, NOW)
    assert book.totals[D].earned == Decimal(13) and book.totals[D].available == Decimal(24)
    assert book.totals[PR].earned == Decimal(2) and book.totals[PS].earned == Decimal("71.5")
    assert book.mark == participation_mark(DEFAULT_SCHEME, book.totals)
    assert book.row_texts(layout) == ["9", "4", "6", "2", "71.5", "1"]
    headers = [c.header for c in layout.columns]
    assert headers[0] == "D1 Week 1 (discussion, /12)"
    assert headers[3:5] == ["X4 Exercise 4 (reviews done, /3)", "X4 Exercise 4 (peer score, /100)"]
    assert headers[5] == "T5 Tutorial 5 (attendance, /1)"


def test_a_running_extension_leaves_the_item_out_until_it_ends() -> None:
    items = [prompt(1), prompt(2)]
    layout = Layout(items)
    record = StudentRecord(
        7,
        earned(prompt_1_discussion="12"),
        extensions={("prompt", 2): NOW + timedelta(days=2)},
    )
    book = build_student_book(layout, record, DEFAULT_SCHEME, NOW)
    assert book.totals[D].available == Decimal(12)  # only prompt 1 counts yet
    assert book.mark.mark == Decimal("100.00")
    assert book.row_texts(layout) == ["12", ""]
    assert book.extensions == (("D2", NOW + timedelta(days=2)),)
    cell = book.cell(layout.columns[1])
    assert not cell.counted and cell.pending_extension == NOW + timedelta(days=2)
    later = build_student_book(layout, record, DEFAULT_SCHEME, NOW + timedelta(days=3))
    assert later.totals[D].available == Decimal(24)
    assert later.row_texts(layout) == ["12", "0"]


def test_ledger_rows_with_other_spellings_and_adjustments_land_in_the_right_cells() -> None:
    assert ledger_key("discussion_post", "discussion_prompt", 3) == ("prompt", 3, "discussion")
    assert ledger_key("tutorial_attendance", "tutorial", 9) == ("occurrence", 9, "attendance")
    assert ledger_key("peer_score_received", "peer_exercise", 2) == ("exercise", 2, "peer_score")
    assert ledger_key("adjustment", "adj:attendance", 0) == ("adjustment", 0, "attendance")
    assert ledger_key("adjustment", "nonsense", 0) is None
    assert canonical_item_type(" Tutorial ") is ItemType.OCCURRENCE
    extra = unlisted_items(
        [prompt(1)],
        [("prompt", 1, "discussion"), ("adjustment", 0, "discussion"), ("quiz", 4, "attendance")],
    )
    assert [(i.item_type, i.key) for i in extra] == [
        (ItemType.ADJUSTMENT, ("adjustment", 0)),
        (ItemType.OTHER, ("quiz", 4)),
    ]
    layout = Layout([prompt(1), *extra])
    record = StudentRecord(
        1, {("prompt", 1, "discussion"): 6000, ("adjustment", 0, "discussion"): 2000}
    )
    book = build_student_book(layout, record, DEFAULT_SCHEME, NOW)
    assert book.totals[D].earned == Decimal(8) and book.totals[D].available == Decimal(12)


def test_late_flags_are_item_codes_in_order() -> None:
    layout = Layout([prompt(1), prompt(12), exercise(3)])
    record = StudentRecord(1, {}, late=frozenset({("prompt", 12), ("exercise", 3), ("prompt", 1)}))
    assert build_student_book(layout, record, DEFAULT_SCHEME, NOW).late == ("D1", "D12", "X3")


def test_points_are_written_plainly() -> None:
    assert [
        format_points(Decimal(v)) for v in ("12.000", "9.500", "0", "-0.0", "0.333", "100")
    ] == [
        "12",
        "9.5",
        "0",
        "0",
        "0.333",
        "100",
    ]


# --------------------------------------------------------------------------- export table


def _book(names: list[str]) -> ModuleBook:
    items = [prompt(1), tutorial(2)]
    layout = Layout(items)
    rows = []
    for n, name in enumerate(names):
        record = StudentRecord(n, earned(prompt_1_discussion=str(n), occurrence_2_attendance="1"))
        book = build_student_book(layout, record, DEFAULT_SCHEME, NOW)
        rows.append(
            StudentRow(n, f"0000{n}", name, f"user{n}", EnrolmentStatus.ACTIVE, book, {}, None)
        )
    module = Module(id=1, code="M1", title="Module")
    return ModuleBook(
        module,
        "UTC",
        items,
        layout.columns,
        layout,
        SchemeInfo(DEFAULT_SCHEME, None, False),
        None,
        rows,
    )


def test_csv_is_stable_bytes_with_documented_columns_and_safe_text() -> None:
    data = to_csv(module_table(_book(["Ann", '=HYPERLINK("x")', "Zoë"])))
    assert data == to_csv(module_table(_book(["Ann", '=HYPERLINK("x")', "Zoë"])))
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" not in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [
        "student_number",
        "name",
        "discord",
        "enrolment",
        "D1 Week 1 (discussion, /12)",
        "T2 Tutorial 2 (attendance, /1)",
        "discussion earned",
        "discussion available",
        "peer reviews completed earned",
        "peer reviews completed available",
        "peer assessment score earned",
        "peer assessment score available",
        "tutorial attendance earned",
        "tutorial attendance available",
        "participation mark",
        "status",
        "late",
        "extensions",
    ]
    assert rows[1][:6] == ["00000", "Ann", "user0", "active", "0", "1"]
    assert rows[2][1] == '\'=HYPERLINK("x")'  # a name is never run as a formula
    assert rows[3][1] == "Zoë"
    # discussion 2/12 x 40/60 + attendance 1/1 x 20/60 (peer parts have nothing available)
    assert rows[3][14] == "44.44" and rows[3][15] == "provisional"


# --------------------------------------------------------------------------- component CSV


def test_component_csv_parses_any_column_order() -> None:
    rows = parse_component_csv("mark,weight,component,student\n64.5,40,Coursework,02510001\n")
    assert [(r.line, r.student, r.component, r.weight, r.mark) for r in rows] == [
        (2, "02510001", "Coursework", Decimal(40), Decimal("64.5"))
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("student,component,mark\nx,y,1\n", "line 1: missing column(s) weight"),
        ("student,component,weight,mark\na,Exam,50,101\n", "line 2: the mark must be a number"),
        ("student,component,weight,mark\na,Exam,0,50\n", "line 2: the weight must be a number"),
        ("student,component,weight,mark\na,Participation,10,50\n", "participation is computed"),
        ("student,component,weight,mark\na,Exam,50,50.555\n", "at most 2 decimals"),
        (
            "student,component,weight,mark\na,Exam,50,60\na,exam,50,70\n",
            "line 3: a already has a exam mark on line 2",
        ),
        (
            "student,component,weight,mark\na,Exam,50,60\nb,Exam,40,70\n",
            "line 3: Exam has weight 40 here but 50 on line 2",
        ),
    ],
)
def test_component_csv_refusals_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ComponentImportError) as caught:
        parse_component_csv(text)
    assert caught.value.sentence.startswith("The file was not imported and nothing changed: ")
    assert message in caught.value.sentence


def test_many_problems_are_summarised_in_one_sentence() -> None:
    text = "student,component,weight,mark\n" + "".join(f"s{n},Exam,50,x\n" for n in range(9))
    with pytest.raises(ComponentImportError) as caught:
        parse_component_csv(text)
    assert caught.value.sentence.endswith("; and 5 more.")
    assert len(caught.value.problems) == 9


# --------------------------------------------------------------------------- item references


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("D3", ("prompt", 3)),
        ("x12", ("exercise", 12)),
        ("T5", ("occurrence", 5)),
        ("tutorial:5", ("occurrence", 5)),
        ("weights", ("mark_scheme", None)),
        ("participation", ("participation", None)),
        ("peer_result:4", ("peer_result", 4)),
    ],
)
def test_item_references(text: str, parsed: tuple[str, int | None]) -> None:
    assert parse_item_ref(text) == parsed


def test_unknown_item_reference_is_one_sentence() -> None:
    with pytest.raises(UserError, match="I do not know the item 'Q1'"):
        parse_item_ref("Q1")


# --------------------------------------------------------------------------- properties

milli = st.integers(min_value=-5_000, max_value=200_000)


@settings(deadline=None, max_examples=150)
@given(st.lists(milli, min_size=6, max_size=6), st.booleans(), st.integers(1, 4))
def test_book_mark_equals_the_mark_of_its_totals(
    points: list[int], pending: bool, weight: int
) -> None:
    items = [prompt(1), prompt(2), exercise(3), tutorial(4), tutorial(5, held=False)]
    layout = Layout(items)
    keys = [c.key for c in layout.columns]
    record = StudentRecord(
        1,
        dict(zip(keys, points, strict=False)),
        extensions={("prompt", 2): NOW + timedelta(days=1)} if pending else {},
    )
    scheme = MarkScheme.from_dict({"discussion": weight, "attendance": 1, "peer_score": 2})
    book = build_student_book(layout, record, scheme, NOW)
    assert book.mark == participation_mark(scheme, book.totals)
    counted = [
        c for c in layout.columns if c.part.counted and not (pending and c.item.item_id == 2)
    ]
    for component in Component:
        total = sum(
            (record.earned.get(c.key, 0) for c in counted if c.part.component is component), 0
        )
        if component in book.totals:
            assert to_milli(book.totals[component].earned) == total

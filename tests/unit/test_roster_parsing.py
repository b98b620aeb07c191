"""Programme (TOML) and roster (CSV) parsing: what an admin sees when a file is right or wrong."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db.models import Designation, Role
from bot.roster.parsing import (
    DiscordHandle,
    RosterError,
    parse_discord_handle,
    parse_programme,
    parse_roster,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CODES = ["MATH70094", "MATH70095", "MATH70096"]
HEADER = "student_number,name,email,discord,role,modules,group\n"


def roster_errors(text: str, codes: list[str] = CODES) -> list[str]:
    with pytest.raises(RosterError) as caught:
        parse_roster(text, codes)
    return caught.value.errors


def programme_errors(text: str) -> list[str]:
    with pytest.raises(RosterError) as caught:
        parse_programme(text)
    return caught.value.errors


# --------------------------------------------------------------------------- programme


def test_example_programme_matches_the_programme_specification() -> None:
    spec = parse_programme((EXAMPLES / "mlds-2025.toml").read_text(encoding="utf-8"))

    assert spec.cohort.code == "MLDS-2025"
    assert spec.cohort.timezone == "Europe/London"
    assert spec.total_ects == 90
    by_code = {m.code: m for m in spec.modules}
    assert len(by_code) == len(spec.modules) == 12
    assert sum(m.ects for m in spec.modules if m.year == 1) == Decimal("41.25") + Decimal("3.75")
    programming = by_code["MATH70094"]
    assert (programming.pass_fail, programming.in_weighted_average) == (True, False)
    assert all(m.in_weighted_average for m in spec.modules if m.code != "MATH70094")
    ethics = by_code["MATH70098"]
    assert ethics.ects == Decimal("7.5")
    assert ethics.designation is Designation.CORE
    assert ethics.note is not None and "two parts" in ethics.note
    assert by_code["MATH70105"].ects == 20
    channels = [m.channel for m in spec.modules]
    assert all(channels) and len(set(channels)) == len(channels)
    assert {m.code for m in spec.modules if m.designation is Designation.CORE} == {
        "MATH70094",
        "MATH70095",
        "MATH70098",
    }


MINIMAL = """\
[cohort]
code = "C-1"
name = "Cohort one"

[[modules]]
code = "M1"
title = "One"
year = 1
term = "Autumn"
ects = 5
designation = "core"
"""


def test_minimal_programme_gets_defaults() -> None:
    spec = parse_programme(MINIMAL)
    assert spec.cohort.timezone == "Europe/London"
    assert spec.cohort.guild_id is None
    (module,) = spec.modules
    assert (module.pass_fail, module.in_weighted_average, module.note) == (False, True, None)


def test_every_programme_problem_is_reported_with_its_line() -> None:
    text = """\
[cohort]
code = "C-1"
name = "Cohort one"
timezone = "Mars/Olympus"
total_ects = 20

[[modules]]
code = "M1"
title = "One"
year = 1
term = "Autumn"
ects = -5
designation = "core"

[[modules]]
code = "M2"
year = 1
term = "Spring"
ects = 7.5
designation = "optional"
colour = "blue"

[[modules]]
code = "m1"
title = "Again"
year = 0
term = "Summer"
ects = 5.125
designation = "compulsory"
pass_fail = true
in_weighted_average = true
"""
    assert programme_errors(text) == [
        "line 4, column 1: cohort.timezone: 'Mars/Olympus' is not an IANA time zone "
        "(Europe/London)",
        "line 12, column 1: modules[0].ects: must be a positive number with at most 2 decimals, "
        "got -5",
        "line 21, column 1: modules[1].colour: unknown key (expected one of code, title, year, "
        "term, ects, designation, pass_fail, in_weighted_average, note, channel, channel_id)",
        "line 15, column 1: modules[1].title: required",
        "line 20, column 1: modules[1].designation: 'optional' is not one of core, compulsory, "
        "elective",
        "line 26, column 1: modules[2].year: must be a whole number from 1 to 10, got 0",
        "line 28, column 1: modules[2].ects: must be a positive number with at most 2 decimals, "
        "got 5.125",
        "line 31, column 1: modules[2].in_weighted_average: a pass/fail module has no mark to "
        "average; set false",
    ]


def test_duplicate_module_code_and_wrong_total_are_refused() -> None:
    text = MINIMAL.replace('name = "Cohort one"', 'name = "Cohort one"\ntotal_ects = 90')
    text += '\n[[modules]]\ncode = "m1"\ntitle = "Dup"\nyear = 2\nterm = "Spring"\n'
    text += 'ects = 5\ndesignation = "elective"\n'
    assert programme_errors(text) == [
        "line 15, column 1: modules[1].code: 'm1' is already used by modules[0]",
    ]
    text = MINIMAL.replace('name = "Cohort one"', 'name = "Cohort one"\ntotal_ects = 90')
    assert programme_errors(text) == [
        "line 4, column 1: cohort.total_ects: the modules add up to 5 ECTS, not 90",
    ]


def test_pass_fail_module_is_left_out_of_the_average_by_default() -> None:
    (module,) = parse_programme(
        MINIMAL.replace('designation = "core"', "designation = 'core'\npass_fail = true")
    ).modules
    assert module.pass_fail is True
    assert module.in_weighted_average is False


def test_missing_tables_and_toml_syntax_errors_are_explained() -> None:
    assert programme_errors("") == [
        "cohort: required: a [cohort] table with code, name, timezone",
        "modules: required: at least one [[modules]] table",
    ]
    (message,) = programme_errors('[cohort]\ncode = "x\n')
    assert message.startswith("not valid TOML:")
    assert "line 2" in message


def test_channel_names_are_normalised_like_discord_does() -> None:
    named = MINIMAL + 'channel = "#Supervised-Learning"\n'
    assert parse_programme(named).modules[0].channel == "supervised-learning"
    assert programme_errors(MINIMAL + 'channel = "supervised learning"\n') == [
        "line 12, column 1: modules[0].channel: 'supervised learning': a channel name is "
        "1-100 characters, no spaces"
    ]


def test_guild_id_accepts_a_number_or_a_string_of_digits() -> None:
    for value in ("123456789012345678", '"123456789012345678"'):
        text = MINIMAL.replace('name = "Cohort one"', f'name = "Cohort one"\nguild_id = {value}')
        assert parse_programme(text).cohort.guild_id == "123456789012345678"
    text = MINIMAL.replace('name = "Cohort one"', 'name = "Cohort one"\nguild_id = "my-server"')
    assert programme_errors(text) == [
        "line 4, column 1: cohort.guild_id: must be a Discord id (17-20 digits), got 'my-server'"
    ]


# --------------------------------------------------------------------------- roster


def test_example_roster_parses_against_the_example_programme() -> None:
    spec = parse_programme((EXAMPLES / "mlds-2025.toml").read_text(encoding="utf-8"))
    codes = [m.code for m in spec.modules]
    roster = parse_roster((EXAMPLES / "roster-mlds-2025.csv").read_text(encoding="utf-8"), codes)

    roles = [e.role for e in roster.entries]
    assert roles.count(Role.TUTOR) == 2
    assert roles.count(Role.ADMIN) == 1
    assert roles.count(Role.STUDENT) == 12
    admin = next(e for e in roster.entries if e.role is Role.ADMIN)
    assert sorted(admin.modules) == sorted(codes)
    assert admin.discord == DiscordHandle(user_id="180000000000000001", username=None)
    tutor = next(e for e in roster.entries if e.name == "Dr Tomasz Zielinski")
    assert tutor.discord == DiscordHandle(user_id=None, username="tomaszz_stats")
    assert tutor.modules == ("MATH70095", "MATH70097", "MATH70098")
    students = [e for e in roster.entries if e.role is Role.STUDENT]
    assert len({e.group for e in students}) >= 3
    assert all(e.student_number and e.discord and e.discord.username for e in students)


def test_header_is_case_insensitive_order_free_and_tolerates_a_bom() -> None:
    text = (
        "\ufeffRole, Modules ,Name,Discord,Student Number\n"
        "student,MATH70094 math70095,Ann,@Ann.B,1\n"
    )
    (entry,) = parse_roster(text, CODES).entries
    assert entry.role is Role.STUDENT
    assert entry.modules == ("MATH70094", "MATH70095")
    assert entry.discord == DiscordHandle(user_id=None, username="ann.b")
    assert (entry.student_number, entry.email, entry.group) == ("1", None, None)


def test_bad_role_is_reported_as_in_the_admin_guide() -> None:
    rows = "".join(f"{n},P{n},,user{n},student,MATH70094,\n" for n in range(1, 6))
    text = HEADER + rows + "6,P6,,user6,teacher,MATH70094,\n"
    assert roster_errors(text) == [
        "line 7, column role: 'teacher' is not one of student, tutor, admin"
    ]


def test_all_row_problems_are_collected_not_just_the_first() -> None:
    text = (
        HEADER
        + "1,Ann,ann@example.org,ann,student,MATH70094;MATH7000,A\n"  # 2 unknown module
        + "1,Bob,bob@,bob,student,MATH70094,A\n"  # 3 duplicate number, bad email
        + "3,Cat,,@ANN,student,MATH70094,\n"  # 4 duplicate discord
        + ",,,,,,\n"  # 5 blank row: skipped
        + ",Dan,,,student,,\n"  # 6 missing number, modules
        + "7,,,eve,,MATH70095,\n"  # 7 missing name, role
        + ",Tom,,,tutor,MATH70094,\n"  # 8 tutor with no way to find them again
        + "9,Fay,,fay,student,MATH70094,B,extra\n"  # 9 ragged
    )
    assert roster_errors(text) == [
        "line 2, column modules: unknown module code 'MATH7000' "
        "(valid: MATH70094, MATH70095, MATH70096)",
        "line 3, column student_number: '1' is already on line 2",
        "line 3, column email: 'bob@' is not an email address",
        "line 4, column discord: 'ann' is already on line 2",
        "line 6, column student_number: required for a student",
        "line 6, column modules: required: module codes separated by ';' or spaces, or '*' for all",
        "line 7, column role: required (student, tutor or admin)",
        "line 7, column name: required",
        "line 8, column discord: required when there is no student number "
        "(re-imports find people by one of them)",
        "line 9: expected 7 fields as in the header, found 8 "
        '(a name or list with a comma needs "quotes")',
    ]


def test_quoted_fields_and_multiline_records_keep_line_numbers_right() -> None:
    text = (
        HEADER
        + '1,"Okafor, Amara",,amara,student,"MATH70094, MATH70095",\n'  # comma inside quotes
        + "\n"  # blank line 3
        + '2,"Multi\nLine",,multi,student,MATH70094,\n'  # lines 4-5
        + "3,Bad,,bad,boss,MATH70094,\n"  # line 6
    )
    assert roster_errors(text) == [
        "line 2, column modules: unknown module code 'MATH70094,' "
        "(valid: MATH70094, MATH70095, MATH70096)",
        "line 6, column role: 'boss' is not one of student, tutor, admin",
    ]
    fixed = text.replace("MATH70094, MATH70095", "MATH70094; MATH70095").replace("boss", "tutor")
    entries = parse_roster(fixed, CODES).entries
    assert [e.line for e in entries] == [2, 4, 6]
    assert entries[0].name == "Okafor, Amara"


@pytest.mark.parametrize("text", ["", "   \n\n", "\ufeff", ",,,\n"])
def test_empty_file_is_refused(text: str) -> None:
    assert roster_errors(text) == [
        "the file is empty: expected a header line naming the columns "
        "student_number, name, email, discord, role, modules, group"
    ]


def test_header_only_file_is_refused() -> None:
    assert roster_errors(HEADER) == ["the file has a header but no people"]


def test_missing_and_unknown_header_columns_are_named() -> None:
    text = "name,emial,discord,modules,name\nAnn,a@b.org,ann,MATH70094,Ann\n"
    assert roster_errors(text) == [
        "line 1, column emial: unknown column "
        "(expected student_number, name, email, discord, role, modules, group)",
        "line 1, column name: appears twice in the header",
        "line 1: missing columns student_number, role "
        "(the header must name student_number, name, discord, role, modules)",
    ]


def test_star_means_every_module_and_stands_alone() -> None:
    (entry,) = parse_roster(HEADER + ",Admin,,admin.person,admin,*,\n", CODES).entries
    assert entry.modules == tuple(sorted(CODES))
    assert roster_errors(HEADER + ",Admin,,admin.person,admin,* MATH70094,\n") == [
        "line 2, column modules: '*' means all modules; give it alone"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456789012345678", DiscordHandle("123456789012345678", None)),
        ("12345678901234567", DiscordHandle("12345678901234567", None)),
        ("@Amara.Codes", DiscordHandle(None, "amara.codes")),
        ("  lukasb_92 ", DiscordHandle(None, "lukasb_92")),
        ("4242", DiscordHandle(None, "4242")),
    ],
)
def test_discord_field_is_an_id_when_all_digits_else_a_username(
    raw: str, expected: DiscordHandle
) -> None:
    assert parse_discord_handle(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("1234567890123456", "has 16 digits"),
        ("old#1234", "old name#1234 form"),
        ("two words", "neither a Discord id"),
        ("a", "neither a Discord id"),
        ("dots..twice", "neither a Discord id"),
    ],
)
def test_discord_field_mistakes_are_explained(raw: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_discord_handle(raw)


def test_roster_error_message_lists_every_problem() -> None:
    error = RosterError(["line 2, column role: bad", "line 3, column name: required"])
    assert str(error) == (
        "2 problems found, nothing was written:\n"
        "  line 2, column role: bad\n"
        "  line 3, column name: required"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(',;"\n\r @*abcMATH70094\ufeff#\t.')), max_size=200))
def test_roster_parser_refuses_garbage_politely(text: str) -> None:
    try:
        roster = parse_roster(HEADER + text, CODES)
    except RosterError as exc:
        assert exc.errors
        assert all(isinstance(e, str) and e for e in exc.errors)
    else:
        assert roster.entries


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_programme_parser_refuses_garbage_politely(text: str) -> None:
    with pytest.raises(RosterError):
        parse_programme(text)


def test_early_warning_thresholds_are_read_and_checked_with_the_rest() -> None:
    assert parse_programme(MINIMAL).early_warning is None
    spec = parse_programme(MINIMAL + "\n[early_warning]\ninactive_days = 10\nfalling_ratio = 0.4\n")
    assert spec.early_warning == {"inactive_days": 10, "falling_ratio": 0.4}
    assert parse_programme((EXAMPLES / "mlds-2025.toml").read_text()).early_warning is not None
    with pytest.raises(RosterError) as caught:
        parse_programme(
            MINIMAL.replace('code = "M1"', 'code = "bad code"')
            + "\n[early_warning]\ninactive_dayz = 3\nflag_score = 0\n"
        )
    errors = caught.value.errors
    assert any("bad code" in e for e in errors)
    assert any(e.startswith("early_warning.inactive_dayz: unknown key") for e in errors)
    assert "early_warning.flag_score: must be from 0.5 to 20, got 0" in errors

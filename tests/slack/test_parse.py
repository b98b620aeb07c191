"""The one parser of Slack command text: what a tutor types, what they are told."""

from __future__ import annotations

import pytest

from slackapp.commands.parse import ParseError, merge, parse
from slackapp.commands.table import BY_PATH, SHAPES


def test_a_full_prompt_create_reads_every_field() -> None:
    parsed = parse(
        "/prompt",
        'create module:MATH70097 title:"Week 1: bias and variance" '
        'opens:"2030-01-19 09:00" closes:"2030-01-23 17:00" private_answers:yes text:"Why?"',
        SHAPES,
    )
    assert parsed.path == ("prompt", "create")
    assert parsed.values == {
        "module": "MATH70097",
        "title": "Week 1: bias and variance",
        "opens": "2030-01-19 09:00",
        "closes": "2030-01-23 17:00",
        "private_answers": True,
        "text": "Why?",
    }
    assert parsed.missing == ()


def test_typographic_quotes_from_slack_clients_work_like_plain_ones() -> None:
    parsed = parse("/prompt", "create title:“Week 1 intro” module:MATH70097", SHAPES)
    assert parsed.values["title"] == "Week 1 intro"


def test_required_fields_left_out_are_listed_for_the_modal() -> None:
    parsed = parse("/prompt", "create module:MATH70097", SHAPES)
    assert parsed.missing == ("title", "opens", "closes")
    asked = BY_PATH[parsed.path].to_ask(parsed.values, parsed.missing)
    assert [o.name for o in asked] == ["title", "opens", "closes", "text"]


def test_the_prompt_text_is_asked_in_a_modal_even_when_the_rest_is_given() -> None:
    parsed = parse("/prompt", "create module:M title:T opens:a closes:b", SHAPES)
    asked = BY_PATH[parsed.path].to_ask(parsed.values, parsed.missing)
    assert [o.name for o in asked] == ["text"]


def test_a_command_with_everything_given_runs_without_a_modal() -> None:
    parsed = parse("/calendar", "timezone zone:Asia/Tokyo", SHAPES)
    assert BY_PATH[parsed.path].to_ask(parsed.values, parsed.missing) == ()


def test_marks_takes_its_module_as_an_option_or_nothing() -> None:
    assert parse("/marks", "", SHAPES).values == {}
    assert parse("/marks", "module:MATH70097", SHAPES).values == {"module": "MATH70097"}


@pytest.mark.parametrize(
    ("command", "text", "says"),
    [
        # (The lists of subcommands grow with the table: only their start is checked.)
        ("/prompt", "", "Say what to do: /prompt answer | close | create | "),
        ("/prompt", "delete module:M", "/prompt has no `delete`; try one of: answer, close, "),
        ("/prompt", "list modul:M", "/prompt list has no option `modul` (options: module)."),
        ("/prompt", "list MATH70097", "`MATH70097` is not an option: write name:value"),
        ("/prompt", "list module:A module:B", "`module` is given twice."),
        ("/prompt", "list module:", "`module` is empty: write module:value."),
        ("/prompt", 'create title:"Week 1', "A quote is not closed"),
        ("/prompt", "create private_answers:maybe", "`private_answers` must be true or false"),
        ("/about", "now", "`now` is not an option"),
    ],
)
def test_bad_text_gets_one_sentence_naming_the_field(command: str, text: str, says: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(command, text, SHAPES)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_modal_fills_in_what_the_text_left_out() -> None:
    shape = SHAPES[("prompt", "create")]
    values = merge(
        shape,
        {"module": "MATH70097"},
        {"title": "Week 2", "opens": "2030-01-19 09:00", "closes": "2030-01-23 17:00", "text": ""},
    )
    assert values == {
        "module": "MATH70097",
        "title": "Week 2",
        "opens": "2030-01-19 09:00",
        "closes": "2030-01-23 17:00",
    }
    with pytest.raises(ParseError, match="`closes` is required"):
        merge(shape, {"module": "M"}, {"title": "T", "opens": "x"})


def test_a_member_option_takes_a_mention_a_handle_or_an_e_mail() -> None:
    def student(text: str) -> object:
        return parse("/prompt", f"grade prompt:1 student:{text}", SHAPES).values["student"]

    assert student("<@U0AMARA|amara>") == "U0AMARA"
    assert student("@amara") == "amara"
    assert student("amara@uni.example") == "amara@uni.example"
    escaped = parse("/prompt", 'grade prompt:1 student:x feedback:"a &lt; b &amp; c"', SHAPES)
    assert escaped.values["feedback"] == "a < b & c"

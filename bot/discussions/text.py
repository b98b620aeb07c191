"""Text rules for discussion posts (the bot's own long messages follow ``bot.text``).

Word counting decides marks, so its rules are fixed here and shown to students on request
(``WORD_COUNT_RULES``). A word is a whitespace-separated token containing at least one letter or
digit, after removing what is not the student's own prose:

- fenced code blocks (```...```) are dropped: code is not discussion, and pasting a notebook cell
  must not meet a word minimum; inline code (`pandas.merge`) counts, as it sits in a sentence;
- block quotes ("> ..." lines, and everything after ">>> ") are dropped: quoted words are someone
  else's;
- bare and <bracketed> URLs count as nothing; a masked link ``[the paper](https://...)`` counts
  its visible text;
- Discord markup counts as nothing: user, role and channel mentions (<@123>, <@&123>, <#123>),
  custom emoji (<:name:id>), timestamps (<t:1700000000:R>), slash-command mentions, @everyone and
  @here; Unicode emoji and punctuation alone are not words;
- markdown markers (**, __, ~~, ||, #, list bullets and numbers) are not words; hyphenated words
  and contractions are one word; em and en dashes separate words; a run of CJK characters
  without spaces counts as one word (the programme is taught in English).

An unterminated ``` is not a code block (Discord shows it as literal text), so it is counted.
"""

from __future__ import annotations

import re

__all__ = ["WORD_COUNT_RULES", "count_words"]

WORD_COUNT_RULES = (
    "Words are counted in your own prose: code blocks, quoted text (> lines), links, mentions "
    "and emoji are not counted; inline code and the visible text of a link are."
)

_FENCED_CODE = re.compile(r"```.*?```", re.DOTALL)
_MASKED_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?https?://[^)\s]*>?\s*\)")
_BRACKET_URL = re.compile(r"<https?://[^>\s]+>")
_BARE_URL = re.compile(r"https?://\S+")
_DISCORD_TOKEN = re.compile(
    r"<(?:@[!&]?\d+|#\d+|a?:\w+:\d+|t:-?\d+(?::[tTdDfFR])?|/[^:<>\n]+:\d+|id:\w+)>"
)
_EVERYONE_HERE = re.compile(r"@(?:everyone|here)\b")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # what str.isalnum accepts, one character


def count_words(text: str) -> int:
    """Count the words a student wrote, by the rules in this module's docstring.

    It runs on every recorded message, so each removal step is skipped when the characters it
    needs are absent; a plain answer costs one ``str.split`` and a test per token.
    """
    if "```" in text:
        text = _FENCED_CODE.sub(" ", text)
    if ">" in text:
        text = _drop_quotes(text)
    if "](" in text:
        text = _MASKED_LINK.sub(r" \1 ", text)
    if "<" in text:
        text = _BRACKET_URL.sub(" ", text)
    if "://" in text:
        text = _BARE_URL.sub(" ", text)
    if "<" in text:
        text = _DISCORD_TOKEN.sub(" ", text)
    if "@" in text:
        text = _EVERYONE_HERE.sub(" ", text)
    if "." in text or ")" in text:
        # Only numbered markers matter: a bullet (-, *, +) holds no letter or digit anyway.
        if "\n" in text:
            text = _LIST_MARKER.sub(" ", text)
        else:  # one line: only its start can hold a marker, and anchored matching is cheap
            marker = _LIST_MARKER.match(text)
            if marker is not None:
                text = " " + text[marker.end() :]
    if "\u2013" in text or "\u2014" in text:
        text = text.replace("\u2013", " ").replace("\u2014", " ")
    words = 0
    for token in text.split():  # str.split and the regex \s agree on what is whitespace
        if token.isalnum() or _LETTER_OR_DIGIT.search(token):
            words += 1
    return words


def _drop_quotes(text: str) -> str:
    kept: list[str] = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped == ">>>" or stripped.startswith(">>> "):
            break
        if stripped == ">" or stripped.startswith("> "):
            continue
        kept.append(line)
    return "\n".join(kept)

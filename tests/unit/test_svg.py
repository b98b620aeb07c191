"""Server-side plots: every non-zero value drawn, text escaped, empty data drawn as empty."""

from __future__ import annotations

import re

from bot.web.svg import bar_chart


def test_bars_are_drawn_for_every_positive_value_with_their_value() -> None:
    svg = bar_chart("T", ["w1", "w2"], [("a", [3, 0]), ("b", [1, 2])], slug="p")
    assert 'data-bars="3"' in svg
    assert sorted(re.findall(r'data-value="([^"]+)"', svg)) == ["1", "2", "3"]
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg and '<title id="p-title">T</title>' in svg


def test_stacked_bars_sit_on_each_other() -> None:
    svg = bar_chart("T", ["x"], [("a", [2]), ("b", [2])], stacked=True)
    ys = [float(y) for y in re.findall(r'<rect class="bar s\d" x="[^"]+" y="([^"]+)"', svg)]
    assert len(ys) == 2 and ys[1] < ys[0]


def test_labels_are_escaped_and_empty_data_draws_no_bar() -> None:
    svg = bar_chart("<b>", ["<script>"], [("x&y", [0])])
    assert "<script>" not in svg and "&lt;b&gt;" in svg and "x&amp;y" in svg
    assert 'data-bars="0"' in svg

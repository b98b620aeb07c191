"""One rule for due / late / extended: only ``bot.due`` compares a time with an item's due time.

The checker reads every module of ``bot/`` (its syntax tree, nothing is imported) and reports
Python that decides lateness itself: an ordering comparison (``<``, ``<=``, ``>``, ``>=``) or a
``max``/``min`` with an operand that is an item's close/due attribute (``prompt.closes_at``,
``exercise.submission_due_at``, ``occurrence.ends_at`` ...). SQL expressions on a model's class
attribute (``DiscussionPrompt.closes_at <= now``: which work is scheduled now) are scheduling,
not lateness, and are allowed (the decision is written in ``bot/due/__init__.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Attributes holding an item's close/due time: prompts, exercises, reviews, deadlines and
#: tutorial sessions (a deadline's time is its ``starts_at``), extensions.
DUE_ATTRIBUTES = frozenset(
    {
        "closes_at",
        "submission_due_at",
        "review_due_at",
        "due_at",
        "new_due_at",
        "starts_at",
        "ends_at",
    }
)
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
#: The one module allowed to compare.
RULE_HOME = "bot/due"
#: Expressions that use an item's time for something other than lateness, and why.
NOT_LATENESS = {
    (
        "bot/calendar/tutorials.py",
        "max(occ.ends_at, old_start)",
    ): "a moved session's change notice stays useful until its end or its old start",
}


def _is_item_time(node: ast.expr) -> bool:
    if not isinstance(node, ast.Attribute) or node.attr not in DUE_ATTRIBUTES:
        return False
    owner = node.value
    # ``DiscussionPrompt.closes_at``: a mapped class's column, i.e. a SQL expression.
    return not (isinstance(owner, ast.Name) and owner.id[:1].isupper())


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Where ``source`` compares (or picks the later of) a time and an item's due time."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare) and any(isinstance(op, _ORDERING) for op in node.ops):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            operands = list(node.args) if node.func.id in ("max", "min") else []
        else:
            continue
        if any(_is_item_time(o) for o in operands):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def offenders() -> list[str]:
    found: list[str] = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(f"{RULE_HOME}/") or relative == f"{RULE_HOME}.py":
            continue
        found += [
            v
            for v in violations(path.read_text(encoding="utf-8"), relative)
            if (relative, v.split(": ", 1)[1]) not in NOT_LATENESS
        ]
    return found


def test_the_checker_catches_a_planted_violation() -> None:
    planted = """
def accept(prompt, exercise, occ, now, extension, due):
    if now > prompt.closes_at:  # lateness decided here
        raise ValueError
    close = max(prompt.closes_at, extension)  # the extension rule, copied
    late = exercise.submission_due_at < now
    over = occ.ends_at <= now
    ok = due.is_late(now, prompt.closes_at)  # asked of the rule: fine
    same = prompt.closes_at == now  # equality is not lateness
    return select(DiscussionPrompt.id).where(DiscussionPrompt.closes_at <= now)  # scheduling
"""
    lines = [v.split(": ", 1)[1] for v in violations(planted)]
    assert lines == [
        "now > prompt.closes_at",
        "max(prompt.closes_at, extension)",
        "exercise.submission_due_at < now",
        "occ.ends_at <= now",
    ]


def test_the_checker_reads_every_module_of_bot() -> None:
    checked = [p for p in (ROOT / "bot").rglob("*.py") if RULE_HOME not in p.as_posix()]
    assert len(checked) > 50
    assert violations("x = a.closes_at\n") == []
    for relative, expression in NOT_LATENESS:  # an allowance outlives nothing it allowed
        found = violations((ROOT / relative).read_text(encoding="utf-8"), relative)
        assert expression in [v.split(": ", 1)[1] for v in found], (relative, expression)


def test_no_module_but_bot_due_compares_a_time_with_a_due_time() -> None:
    assert offenders() == []

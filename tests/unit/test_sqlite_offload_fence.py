"""The SQLite-only machinery stays fenced: only the two modules that choose between a child
process and the event loop import ``bot.sqlite_offload`` (plus the old path's facade)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_layers import imported_modules

ROOT = Path(__file__).resolve().parents[2]
FENCE = "bot.sqlite_offload"
ALLOWED = {"bot.discussions.recorder", "bot.gradebook.reader", "bot.discussions.writer"}


def importers_of_the_fence(sources: dict[str, str]) -> set[str]:
    """Modules outside the package that import anything in it."""
    found = set()
    for module, source in sources.items():
        if module == FENCE or module.startswith(FENCE + "."):
            continue
        package = module.rpartition(".")[0]
        if any(n == FENCE or n.startswith(FENCE + ".") for n in imported_modules(source, package)):
            found.add(module)
    return found


def _sources() -> dict[str, str]:
    sources = {}
    for top in ("bot", "cogs", "slackapp"):
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            sources[name] = path.read_text(encoding="utf-8")
    return sources


def test_only_the_known_callers_import_the_sqlite_offload_package() -> None:
    assert importers_of_the_fence(_sources()) == ALLOWED


def test_the_fence_check_catches_a_new_caller() -> None:
    planted = {
        "bot.peer.engine": "from bot.sqlite_offload.childproc import Child\n",
        "cogs.gradebook.cog": "import bot.sqlite_offload.marks_reader as r\n",
        "bot.calendar.jobs": "from ..sqlite_offload import childproc\n",
        "bot.sqlite_offload.childproc": "from bot.sqlite_offload import marks_reader\n",
    }
    assert importers_of_the_fence(planted) == {
        "bot.peer.engine",
        "cogs.gradebook.cog",
        "bot.calendar.jobs",
    }

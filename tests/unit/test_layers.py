"""The dependency rule: the core knows nothing of discord; cogs hold no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DISCORD_WIRING = {"bot/discord_app.py", "bot/discord_endpoints.py", "bot/discord_chat.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_discord_wiring_in_bot_imports_discord() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "bot").rglob("*.py")
        if "discord" in _imports(p) and str(p.relative_to(ROOT)) not in DISCORD_WIRING
    ]
    assert offenders == []


def test_cogs_do_not_touch_the_database_directly() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "cogs").rglob("*.py")
        if _imports(p) & {"sqlalchemy", "aiosqlite", "asyncpg"}
    ]
    assert offenders == []

"""The dependency rule: the core knows nothing of discord; cogs hold no SQL."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
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


# --- cohortlab (local server, sandbox, demo) sits outside the core ------------------------------

LAB = "cohortlab"


def imported_modules(source: str, package: str = "") -> set[str]:
    """Every module a source imports, by full dotted name.

    ``from X import a`` gives both ``X`` and ``X.a`` (``a`` may be a submodule); relative
    imports are resolved against ``package``; ``importlib.import_module("X")`` and
    ``__import__("X")`` with a literal string count too, since they import just the same.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parent = parts[: len(parts) - node.level + 1] if node.level > 1 else parts
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                called in {"import_module", "__import__"}
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                names.add(first.value)
    return {n for n in names if n}


def imports_lab(source: str, package: str = "") -> bool:
    return any(n == LAB or n.startswith(f"{LAB}.") for n in imported_modules(source, package))


def _package_of(path: Path) -> str:
    """The package relative imports in ``path`` resolve against."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def test_bot_and_cogs_never_import_cohortlab() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("bot", "cogs")
        for p in (ROOT / folder).rglob("*.py")
        if imports_lab(p.read_text(encoding="utf-8"), _package_of(p))
    ]
    assert offenders == []


def test_the_cohortlab_check_catches_every_spelling_of_an_import() -> None:
    caught = [
        "import cohortlab",
        "import cohortlab.localdiscord.server as s",
        "from cohortlab.sandbox import Sandbox",
        "from cohortlab import demo",
        "def f():\n    from cohortlab.demo import run_demo\n",
        "import importlib\nimportlib.import_module('cohortlab.demo.term.welcome')",
        "from importlib import import_module\nimport_module('cohortlab')",
        "__import__('cohortlab.sample')",
    ]
    for source in caught:
        assert imports_lab(source, "bot.peer"), source
    clean = [
        "import bot.cli",
        "from bot.gradebook import ledger",
        "import cohortlabs",
        "NAME = 'cohortlab.demo'",
        "from . import cohortlab_notes",
    ]
    for source in clean:
        assert not imports_lab(source, "bot.peer"), source


# --- features do not import each other's internals ---------------------------------------------

FEATURES = (
    "access",
    "roster",
    "discussions",
    "peer",
    "calendar",
    "gradebook",
    "insights",
    "dashboard",
    "teams",
)


def public_modules(init_source: str) -> tuple[str, ...]:
    """The feature's ``PUBLIC_MODULES`` tuple, read without importing the package."""
    for node in ast.parse(init_source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "PUBLIC_MODULES" for t in targets):
            assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple), "PUBLIC_MODULES must be a tuple of module names"
            return value
    return ()


def feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "bot" and parts[1] in FEATURES else None


def cross_feature_violations(
    module: str,
    source: str,
    public: Mapping[str, tuple[str, ...]],
    is_module: Callable[[str], bool],
) -> list[str]:
    """Imports from ``module`` (in feature A) that reach a module feature B does not publish.

    Importing ``bot.B`` itself (its ``__init__``) or ``bot.B.<name>`` for a name in B's
    ``PUBLIC_MODULES`` (and anything below it) is allowed; ``bot.db`` is everyone's.
    """
    own = feature_of(module)
    if own is None:
        return []
    package = module if is_module(module + ".__init__") else module.rpartition(".")[0]
    found: set[str] = set()
    for name in imported_modules(source, package):
        other = feature_of(name)
        parts = name.split(".")
        if other is None or other == own or len(parts) < 3:
            continue
        if not is_module(".".join(parts[:3])):
            continue  # ``from bot.B import name``: a name from B's __init__, not a module
        if parts[2] not in public.get(other, ()):
            found.add(f"{module} imports {'.'.join(parts[:3])}")
    return sorted(found)


def _is_module_on_disk(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_features_import_only_what_other_features_publish() -> None:
    public = {
        f: public_modules((ROOT / "bot" / f / "__init__.py").read_text(encoding="utf-8"))
        for f in FEATURES
    }
    offenders = [
        violation
        for f in FEATURES
        for p in sorted((ROOT / "bot" / f).rglob("*.py"))
        for violation in cross_feature_violations(
            _module_name(p), p.read_text(encoding="utf-8"), public, _is_module_on_disk
        )
    ]
    assert offenders == []


def test_every_published_module_exists() -> None:
    for f in FEATURES:
        for name in public_modules((ROOT / "bot" / f / "__init__.py").read_text("utf-8")):
            assert _is_module_on_disk(f"bot.{f}.{name}"), f"bot.{f}.{name}"


def test_public_modules_is_read_from_the_source() -> None:
    assert public_modules('"""Doc."""\nPUBLIC_MODULES = ("service", "ledger")\n') == (
        "service",
        "ledger",
    )
    assert public_modules("PUBLIC_MODULES: tuple[str, ...] = ()\n") == ()
    assert public_modules("OTHER = ('x',)\n") == ()


def test_the_feature_check_catches_an_internal_import() -> None:
    public = {"gradebook": ("ledger",), "calendar": ("timeparse",)}
    modules = {
        "bot.peer.__init__",
        "bot.gradebook.ledger",
        "bot.gradebook.reconcile",
        "bot.calendar.timeparse",
        "bot.calendar.engine",
        "bot.peer.service",
        "bot.peer.allocation",
        "bot.discussions.recording",
    }

    def check(source: str, module: str = "bot.peer.service") -> list[str]:
        return cross_feature_violations(module, source, public, modules.__contains__)

    assert check("from bot.gradebook import reconcile") == [
        "bot.peer.service imports bot.gradebook.reconcile"
    ]
    assert check("import bot.calendar.engine") == ["bot.peer.service imports bot.calendar.engine"]
    assert check("def f():\n    from bot.calendar.engine import run\n") != []
    assert check("from ..calendar import engine") == [
        "bot.peer.service imports bot.calendar.engine"
    ]
    assert check("from bot.discussions.recording import x", module="bot.peer.service") == [
        "bot.peer.service imports bot.discussions.recording"
    ]
    # allowed: published modules, the package's own names, one's own feature, the database
    assert check("from bot.gradebook import ledger") == []
    assert check("from bot.gradebook.ledger import credit") == []
    assert check("from bot.calendar import SOMETHING") == []
    assert check("from bot.peer import allocation") == []
    assert check("from bot.db.models import Person") == []
    assert check("from bot.gradebook import reconcile", module="bot.cli") == []


# --- the shared core utilities belong to no feature ----------------------------------------------

#: What every feature may use: chat text and time parsing. They import no feature, so using them
#: never couples two features.
CORE_UTILITIES = ("bot/text.py", "bot/timeparse.py", "bot/input_checks.py")


def test_core_utilities_import_no_feature() -> None:
    offenders = sorted(
        f"{path} imports {name}"
        for path in CORE_UTILITIES
        for name in imported_modules((ROOT / path).read_text(encoding="utf-8"))
        if feature_of(name) is not None
    )
    assert offenders == []


def test_the_core_utility_check_sees_a_feature_import() -> None:
    assert feature_of("bot.calendar.timeparse") == "calendar"
    assert any(
        feature_of(name) is not None
        for name in imported_modules("from bot.discussions.text import count_words")
    )


# --- slackapp (the Slack adapter) sits beside cogs/, outside the core ---------------------------

SLACK_PACKAGES = ("slackapp", "slack_bolt", "slack_sdk")


def imports_slack(source: str, package: str = "") -> bool:
    return any(
        n == top or n.startswith(f"{top}.")
        for n in imported_modules(source, package)
        for top in SLACK_PACKAGES
    )


def test_bot_and_cogs_never_import_slack_code() -> None:
    """The core reaches the Slack adapter only through the ``cohortbot.platforms`` entry
    point; Discord's cogs know nothing of it either."""
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("bot", "cogs")
        for p in (ROOT / folder).rglob("*.py")
        if imports_slack(p.read_text(encoding="utf-8"), _package_of(p))
    ]
    assert offenders == []


def test_slackapp_never_imports_discord_cogs_or_cohortlab() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "slackapp").rglob("*.py")
        if imports_lab(p.read_text(encoding="utf-8"), _package_of(p))
        or _imports(p) & {"discord", "cogs"}
    ]
    assert offenders == []


def test_slackapp_holds_no_sql() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "slackapp").rglob("*.py")
        if _imports(p) & {"sqlalchemy", "aiosqlite", "asyncpg"}
    ]
    assert offenders == []


def test_the_slack_check_catches_an_import() -> None:
    assert imports_slack("from slackapp.app import SlackApplication")
    assert imports_slack("import importlib\nimportlib.import_module('slack_sdk.web')")
    assert not imports_slack("NAME = 'slackapp'")


# --- every CSV file goes out through bot/csv_output.py (formula-safe cells) ---------------------

CSV_WRITER = "bot/csv_output.py"


def writes_csv(source: str) -> bool:
    """Whether code builds a csv writer itself (``csv.writer``, ``csv.DictWriter``, or either
    imported from ``csv``) instead of calling ``bot.csv_output``."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "csv"
            and any(a.name in {"writer", "DictWriter"} for a in node.names)
        ):
            return True
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"writer", "DictWriter"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "csv"
        ):
            return True
    return False


def test_only_csv_output_writes_csv_files() -> None:
    """So no CSV a tutor downloads can skip making formula text safe."""
    offenders = sorted(
        str(p.relative_to(ROOT))
        for package in ("bot", "cogs", "slackapp")
        for p in (ROOT / package).rglob("*.py")
        if str(p.relative_to(ROOT)) != CSV_WRITER and writes_csv(p.read_text(encoding="utf-8"))
    )
    assert offenders == []


def test_the_csv_writer_check_sees_every_spelling() -> None:
    assert writes_csv("import csv\nw = csv.writer(out)")
    assert writes_csv("import csv\nw = csv.DictWriter(out, fieldnames=[])")
    assert writes_csv("from csv import writer")
    assert not writes_csv("import csv\nr = csv.reader(text)")
    assert writes_csv((ROOT / CSV_WRITER).read_text(encoding="utf-8"))

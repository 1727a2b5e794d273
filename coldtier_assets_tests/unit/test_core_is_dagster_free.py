"""The Dagster-free core imports neither Dagster nor the Dagster layer, not even lazily in a function.

The core is ``offload/``, ``maintenance/``, ``federated/`` and ``resources/`` plus the shared modules
they use. Every import statement of those files is read (so a function-level ``import dagster`` is
found too); a coldtier module outside that set would bring its own imports along, so it is refused.
"""

from __future__ import annotations

import ast
from pathlib import Path

import coldtier_assets

PACKAGE = Path(coldtier_assets.__file__).parent
CORE_PACKAGES = ("offload", "maintenance", "federated", "resources")
SHARED = ("bundled", "column_types", "config", "ddl", "errors", "redact", "tables")


def _imports(source: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _allowed(module: str) -> bool:
    top, _, rest = module.partition(".")
    if top.startswith("dagster"):
        return False
    return top != "coldtier_assets" or rest.split(".")[0] in (*CORE_PACKAGES, *SHARED)


def test_the_core_imports_no_dagster_and_nothing_of_the_dagster_layer() -> None:
    files = [path for part in CORE_PACKAGES for path in sorted((PACKAGE / part).rglob("*.py"))]
    files += [PACKAGE / f"{name}.py" for name in SHARED]
    offending = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for path in files
        for line, module in _imports(path.read_text())
        if not _allowed(module)
    ]
    assert offending == []


def test_the_check_sees_a_lazy_import() -> None:
    source = "def f():\n    import dagster\n    from coldtier_assets.defs.checks import check_status\n"
    assert [module for _, module in _imports(source) if not _allowed(module)] == [
        "dagster",
        "coldtier_assets.defs.checks",
    ]

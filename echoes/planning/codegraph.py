"""Which files of the ``echoes`` package a workflow script runs: a rule's code inputs, derived.

Snakemake reruns a ``script:`` rule when its script changes, but an edit inside the package the
script calls is invisible to it. Listing the package files a script imports, transitively, as the
rule's inputs makes such edits count; deriving the list from the imports (``ast``, every
``import`` anywhere in a file, lazy ones included) means no module can be forgotten. The parent
packages' ``__init__.py`` files count too: importing ``echoes.models.esn`` runs them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "echoes"


def imported_names(source: str) -> set[str]:
    """Dotted names a Python source imports from the package: ``import a.b``, ``from a.b import c`` (``a.b.c`` too)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def module_file(name: str, root: Path) -> Path | None:
    """The file that defines module ``name`` under ``root``, or None (``from m import f`` names a function)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module imports its packages first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def package_files(script: str | Path, root: str | Path) -> list[Path]:
    """Sorted files of the package under ``root`` that ``script`` imports, directly or through other modules."""
    root = Path(root)
    seen: set[Path] = set()
    pending = [Path(script)]
    while pending:
        source = pending.pop()
        for name in imported_names(source.read_text()):
            for module in with_parents(name):
                path = module_file(module, root)
                if path is not None and path not in seen:
                    seen.add(path)
                    pending.append(path)
    return sorted(seen)

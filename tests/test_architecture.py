"""The package's layout: stages import only the stages before them, and code stays small.

See docs/architecture.md for the order of the stages and the room of each.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ndx_encoding_subspace"

#: the stages in the order data flows; a module may import its own stage and earlier ones
ORDER = [
    "base",  # errors, params, atomic, compute, cache, preflight, inputs, arrays, _lazy: imported by
    # any stage, importing none
    "extension",
    "data",
    "io",
    "datasets",
    "models",
    "fitting",
    "dstrf",
    "subspace",
    "nonlinearity",
    "circuit",
    "results",
    "dataset",  # cross-site tables and statistics of a run's results files
    "viz",
    "pipeline",  # runs every stage, and writes the report
    "entry",  # cli.py, cli_flags.py, widgets.py, the package's __init__ and __main__
    "testing",
]
BASE = {"errors", "params", "atomic", "compute", "cache", "preflight", "inputs", "arrays", "_aliases",
        "_lazy"}
ENTRY = {"cli", "cli_flags", "widgets", "__init__", "__main__"}
MAX_MODULE_LINES = 420
MAX_FUNCTION_LINES = 80


def _stage(parts: tuple[str, ...]) -> str:
    head = parts[0].removesuffix(".py")
    if head in BASE:
        return "base"
    if head in ENTRY:
        return "entry"
    return head


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imported_stages(path: Path) -> set[tuple[str, int]]:
    rel = path.relative_to(PACKAGE)
    package = rel.parts[:-1] if rel.name != "__init__.py" else rel.parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = (*base, *(node.module.split(".") if node.module else ()))
                if not target:  # ``from .. import __version__``: the package's own metadata
                    target = ("errors",)
            elif node.module and node.module.split(".")[0] == "ndx_encoding_subspace":
                target = tuple(node.module.split(".")[1:]) or ("__init__",)
            else:
                continue
            if not node.module and node.level and target == package and target:
                names = [a.name for a in node.names]
                target = (*target, names[0]) if target else (names[0],)
            found.add((_stage(target), node.lineno))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_stages_import_only_earlier_stages(path: Path) -> None:
    own = _stage(path.relative_to(PACKAGE).parts)
    if own == "entry" or path.name == "_aliases.py":
        return
    later = [(stage, line) for stage, line in _imported_stages(path)
             if stage in ORDER and ORDER.index(stage) > ORDER.index(own)]
    assert not later, f"{path.relative_to(PACKAGE)} ({own}) imports later stages: {sorted(later)}"


def test_no_runtime_module_imports_the_test_fixtures() -> None:
    for path in _modules():
        if _stage(path.relative_to(PACKAGE).parts) in {"testing", "entry"}:
            continue
        assert "testing" not in {s for s, _ in _imported_stages(path)}, path


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
            n = node.end_lineno - body[0].lineno + 1  # the code, without signature and docstring
            # a long function says why in a comment on the line before it or on its def line
            why = any("long:" in lines[i] for i in (node.lineno - 2, node.lineno - 1) if 0 <= i < len(lines))
            assert n <= MAX_FUNCTION_LINES or why, f"{path.name}:{node.lineno} {node.name} is {n} lines"

"""The package's shape: no import cycles, imports at module level, one registry, short functions."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import animelib
from animelib.models import MODELS
from animelib.training import ModelSpec, Trainer

PACKAGE = Path(animelib.__file__).parent
# Imported inside functions on purpose: heavy (seconds, or hundreds of MB) and needed by a few code paths only.
LAZY_ALLOWED = {"torchmetrics", "papermill", "nbformat", "nbclient", "ipywidgets", "datasets", "huggingface_hub",
                "animeface"}
# The command line imports a verb's subsystem when the verb runs (papermill, nbconvert, the hub's datasets).
LAZY_ALLOWED_IN = {"cli": {"animelib"}}
MAX_FUNCTION_LINES = 60
PAINTERS = {"data/synthetic/anime.py", "data/synthetic/photo.py"}  # drawing code: long by nature


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        found[name] = ast.parse(path.read_text(), filename=str(path))
    return found


def imported(node: ast.AST, module: str, known: set[str]) -> set[str]:
    """The animelib modules an import statement names (``from animelib.x import y`` -> x, or x.y if a module)."""
    names = set()
    if isinstance(node, ast.Import):
        names = {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        names = {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names}
    return {n for n in names if n in known and n != module}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set().union(*(imported(n, name, known) for n in ast.walk(tree))) for name, tree in found.items()}


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_inside_functions_are_only_heavy_optional_ones():
    offenders = []
    stdlib = set(sys.stdlib_module_names)
    for name, tree in modules().items():
        allowed = LAZY_ALLOWED | LAZY_ALLOWED_IN.get(name.removeprefix("animelib."), set())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    top = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0]
                    if top in stdlib or top not in allowed:
                        offenders.append(f"{name}.{func.name}: {top}")
    assert not offenders, "imports inside functions (move them to the module's top): " + ", ".join(offenders)


def test_no_private_names_imported_across_modules():
    used = [f"{name}: {node.module}.{a.name}" for name, tree in modules().items() for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("animelib")
            for a in node.names if a.name.startswith("_")]
    assert not used, f"private names used by other modules: {used}"


def test_functions_are_short_outside_the_painters():
    long = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in PAINTERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{rel}:{node.lineno} {node.name} ({length} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_is_complete(name):
    entry = MODELS[name]
    assert isinstance(entry, ModelSpec) and entry.name == name == entry.config_class.MODEL
    assert issubclass(entry.trainer_class, Trainer) and entry.generators
    cfg = entry.config_class.from_profile("smoke")
    assert cfg.DATA_FIELDS and all(hasattr(cfg, f) for f in cfg.DATA_FIELDS)
    assert sum(p.numel() for p in entry.build_generator(cfg).parameters()) > 0
    assert (PACKAGE.parent / "notebooks" / entry.notebook).exists()

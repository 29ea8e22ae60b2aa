"""The layer rule of docs/architecture.md, checked on every import of ``src/``.

Each module belongs to one layer of :data:`LAYERS`; an import may stay in its layer or go down,
never up, and no modules import each other in a loop. Every import counts: at the top of a
module, inside a function, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = "mosaicit"
#: The layers, from the ground up, and the modules of each: a name stands for the module and
#: everything under it (the package itself, ``mosaicit``, is its face: ``__init__.py`` alone).
#: The most specific name decides (``mosaicit.eval.cli`` is command line, the rest of eval not).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "ground",
        (
            "mosaicit.types",
            "mosaicit.errors",
            "mosaicit.exits",
            "mosaicit.extras",
            "mosaicit.histogram",
            "mosaicit.progress",
            "mosaicit.tempfiles",
            "mosaicit.data",
        ),
    ),
    ("read and write", ("mosaicit.io",)),
    ("budget", ("mosaicit.budget",)),
    ("render", ("mosaicit.render",)),
    ("plan", ("mosaicit.plan",)),
    ("run", ("mosaicit.run",)),
    ("public API", ("mosaicit",)),
    ("evaluation and report", ("mosaicit.eval", "mosaicit.report")),
    (
        "command line",
        (
            "mosaicit.cli",
            "mosaicit.clidoc",
            "mosaicit.cliconfig",
            "mosaicit.clihelp",
            "mosaicit.clioptions",
            "mosaicit.preview",
            "mosaicit.__main__",
            "mosaicit.eval.cli",
        ),
    ),
)


def modules(src: Path) -> dict[str, Path]:
    """Every module under ``src`` by dotted name (a package by its ``__init__.py``)."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The modules of ``known`` that module ``name`` imports, wherever the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``from a.b import name``: the module a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph(src: Path) -> dict[str, set[str]]:
    """Each module of ``src`` and the modules of ``src`` it imports."""
    known = modules(src)
    return {name: set(imports(name, path, known)) for name, path in known.items()}


def layer_of(module: str, layers: Sequence[tuple[str, tuple[str, ...]]], package: str) -> int | None:
    """The index of ``module``'s layer: the layer of its most specific name (None: no layer)."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(layers):
        for name in names:
            within = module.startswith(name + ".") and name != package
            if (module == name or within) and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The loops of the graph: each set of modules that import each other (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def problems(src: Path, layers: Sequence[tuple[str, tuple[str, ...]]], package: str = PACKAGE) -> list[str]:
    """Every break of the layer rule under ``src``: a module with no layer, an import that climbs
    to a higher layer, and each loop of imports; empty when the house keeps the rule."""
    edges = graph(src)
    out = [f"{m}: in no layer (add it to LAYERS)" for m in edges if layer_of(m, layers, package) is None]
    for module, targets in sorted(edges.items()):
        low = layer_of(module, layers, package)
        for target in sorted(targets):
            high = layer_of(target, layers, package)
            if low is not None and high is not None and high > low:
                out.append(
                    f"{module} ({layers[low][0]}) imports {target} ({layers[high][0]}), a higher layer"
                )
    out += ["a loop of imports: " + " <-> ".join(loop) for loop in cycles(edges)]
    return out


def test_every_import_of_src_keeps_the_layer_rule():
    assert problems(ROOT / "src", LAYERS) == []


def test_every_folder_of_the_package_is_in_one_layer():
    for folder in sorted((ROOT / "src" / PACKAGE).iterdir()):
        if folder.is_dir() and (folder / "__init__.py").is_file():
            assert layer_of(f"{PACKAGE}.{folder.name}", LAYERS, PACKAGE) is not None, folder


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


SYNTHETIC_LAYERS = (("low", ("pkg.low",)), ("high", ("pkg.high", "pkg.app")), ("face", ("pkg",)))


@pytest.fixture
def clean(tmp_path):
    return {
        "pkg/__init__.py": "from pkg.app import main\n",
        "pkg/low/__init__.py": "",
        "pkg/low/kinds.py": "KIND = 1\n",
        "pkg/low/tools.py": "from pkg.low.kinds import KIND\n",
        "pkg/high/__init__.py": "",
        "pkg/high/work.py": "from pkg.low import kinds\nfrom ..low.tools import KIND\n",
        "pkg/high/page.py": "PAGE = 1\n",
        "pkg/app.py": "import pkg.high.work\n\ndef main():\n    pass\n",
    }


def test_a_clean_synthetic_tree_keeps_the_rule(tmp_path, clean):
    src = _tree(tmp_path, clean)
    assert problems(src, SYNTHETIC_LAYERS, "pkg") == []
    assert graph(src)["pkg.high.work"] == {"pkg.low.kinds", "pkg.low.tools"}


@pytest.mark.parametrize(
    "where",
    [
        "from pkg.high.page import PAGE\n",
        "def f():\n    import pkg.high.page\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import page\n",
        "from ..high import page\n",
    ],
    ids=["top", "in a function", "type checking", "relative"],
)
def test_a_planted_upward_import_is_caught(tmp_path, clean, where):
    src = _tree(tmp_path, {**clean, "pkg/low/tools.py": where})
    assert problems(src, SYNTHETIC_LAYERS, "pkg") == [
        "pkg.low.tools (low) imports pkg.high.page (high), a higher layer"
    ]


def test_a_planted_loop_in_one_layer_is_caught(tmp_path, clean):
    src = _tree(tmp_path, {**clean, "pkg/low/kinds.py": "def f():\n    from pkg.low import tools\n"})
    assert problems(src, SYNTHETIC_LAYERS, "pkg") == ["a loop of imports: pkg.low.kinds <-> pkg.low.tools"]


def test_a_module_outside_every_layer_is_caught(tmp_path, clean):
    src = _tree(tmp_path, {**clean, "pkg/stray.py": "X = 1\n"})
    assert problems(src, SYNTHETIC_LAYERS, "pkg") == ["pkg.stray: in no layer (add it to LAYERS)"]

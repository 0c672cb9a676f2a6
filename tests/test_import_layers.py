"""The package's import graph: no cycles, and no import up or across the layers.

Layers (top to bottom; an arrow is "may import")::

    demo -> engine -> prep -> {data, models, evaluation} -> config -> utils

``data``, ``models`` and ``evaluation`` are independent of each other (models never import data; evaluation
never imports data or models); ``config`` imports only ``utils`` (its errors), ``utils`` nothing of the package. ``prep`` (offline
preparation) is imported only by ``engine`` (the quickstart's synthetic data), ``demo`` (its video encoder), ``data_prep/``
and tools.

Every ``import`` statement counts, at module level and inside functions. The contracts are also written for
import-linter in ``pyproject.toml`` (``lint-imports``), which this test runs too.
"""

import ast
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "hiera_video"
#: layer of each subpackage; a module may import its own subpackage and any subpackage of a lower layer, and
#: within one layer only what ALLOWED_SAME_LAYER lists.
LAYERS = {"demo": 5, "engine": 4, "prep": 3, "data": 2, "models": 2, "evaluation": 2, "config": 1, "utils": 0}


def _module_files():
    base = os.path.join(ROOT, PACKAGE)
    for folder, _, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield (rel[: -len(".__init__")] if rel.endswith(".__init__") else rel), path


MODULES = dict(_module_files())


def _resolve(module: str, level: int, target: str, is_package: bool) -> str:
    if level == 0:
        return target
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(module: str) -> set:
    """Package modules ``module`` imports anywhere in its file (``from pkg import submodule`` counts as the
    submodule, ``from pkg import name`` as ``pkg``)."""
    path = MODULES[module]
    tree = ast.parse(open(path).read(), path)
    is_package = path.endswith("__init__.py")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module or "", is_package)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import a.b.c` of a package path: its deepest module
                name = name.rpartition(".")[0]
            if name.startswith(PACKAGE + ".") and name != module:
                found.add(name)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def _layer(module: str):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycles():
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def strong(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in GRAPH:
        if v not in index:
            strong(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_import_runs_up_or_across_the_layers():
    bad = []
    for module, targets in GRAPH.items():
        own = _layer(module)
        if own is None:  # hiera_video/__init__.py
            continue
        assert own in LAYERS, f"{module}: subpackage {own!r} has no layer; add it to LAYERS"
        for target in targets:
            other = _layer(target)
            if other is None or other == own:
                continue
            if LAYERS[other] >= LAYERS[own]:
                bad.append(f"{module} -> {target}")
    assert not bad, "imports against the layers demo -> engine -> prep -> {data | models | evaluation} -> config -> utils: " \
                    + "; ".join(sorted(bad))


def test_the_walker_sees_imports_inside_functions():
    assert "hiera_video.engine.runner" in MODULES
    assert any(t.startswith("hiera_video.models") for t in GRAPH["hiera_video.engine.runner"])
    src = "def f():\n    from hiera_video.engine import runner\n"
    tree = ast.parse(src)
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_linter_contracts_hold():
    result = subprocess.run(["lint-imports", "--config", os.path.join(ROOT, "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for module, path in MODULES.items():
        tree = ast.parse(open(path).read(), path)
        is_package = path.endswith("__init__.py")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                base = _resolve(module, node.level, node.module or "", is_package)
                if not base.startswith(PACKAGE):
                    continue
                bad += [f"{module}: from {base} import {a.name}" for a in node.names
                        if a.name.startswith("_") and f"{base}.{a.name}" not in MODULES]
    assert not bad, "private names imported across modules: " + "; ".join(bad)


def test_importing_the_runtime_data_package_imports_no_offline_preparation():
    code = ("import sys, hiera_video.data, hiera_video.models, hiera_video.engine.runner; "
            "print(sorted(m for m in sys.modules if m.startswith('hiera_video.prep')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"

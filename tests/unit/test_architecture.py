"""The package's architecture as tests: imports only go down the layers, notebooks stay thin,
every declared dependency is used.

The layers are listed in ``docs/architecture.md``; :data:`LAYERS` below is the same table. A
module may import modules of its own layer or of layers above it (lower numbers), never below,
and the import graph -- counting imports inside functions -- has no cycle.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from analysis._paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "analysis"
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.py"))

#: Layer of each module or subpackage (its top-level name under ``analysis``).
LAYERS = {
    "_version": 0, "_paths": 0, "_threads": 0, "_format": 0, "_series": 0, "report": 0, "stats": 0,
    "atlas": 1, "open_data": 1,
    "trial": 2, "extract": 2,
    "connectome": 3,
    "clock": 4,
    "trial_analysis": 5, "patterns": 5, "simstudy": 5, "figures": 5,
    "__init__": 6, "__main__": 6,
}

#: Modules allowed inside functions: optional dependencies of the book build, not of the package.
OPTIONAL_IMPORTS = ("IPython", "myst_nb")
#: Heavy imports deferred to the one function that needs them (file -> modules), each for a
#: measured reason: ``skops.io`` scans all of scikit-learn when imported (2-3 s here) and is
#: needed only to save or load a clock file; ``nilearn.plotting`` (about 1 s) only by the two
#: matrix/glass-brain figures. Every notebook kernel and joblib worker imports the package.
DEFERRED_IMPORTS = {"analysis/clock/persist.py": ("skops.io",), "analysis/figures.py": ("nilearn",)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_module(dotted: str) -> bool:
    base = PACKAGE.parent / dotted.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function?, line) for every import of ``path``."""
    module, tree = _module_name(path), ast.parse(path.read_text(), str(path))
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((alias.name, in_function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(child, module, path.name == "__init__.py")
                # ``from analysis.trial import io`` imports the submodule analysis.trial.io; only a
                # name that is not a submodule makes the package's own __init__ a dependency
                subs = [f"{target}.{alias.name}" for alias in child.names]
                subs = [sub for sub in subs if _is_module(sub)]
                if len(subs) < len(child.names):
                    out.append((target, in_function, child.lineno))
                out.extend((sub, in_function, child.lineno) for sub in subs)
            visit(child, inside)

    visit(tree, False)
    return out


def _package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _package_files()}
    graph = {}
    for name, path in modules.items():
        graph[name] = {target for target, _, _ in _imports(path)
                       if target in modules and target != name and target != "analysis"}
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[1] if module != "analysis" else "__init__"
    assert top in LAYERS, f"{module}: add its top-level name to LAYERS (and docs/architecture.md)"
    return LAYERS[top]


def test_the_import_graph_has_no_cycle():
    graph, state, stack = _graph(), {}, []

    def dfs(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            dfs(node)


def test_imports_only_go_down_the_layers():
    bad = []
    for path in _package_files():
        module = _module_name(path)
        for target, _, line in _imports(path):
            if target.startswith("analysis.") and _layer(target) > _layer(module):
                bad.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {target} (layer "
                           f"{_layer(target)}) from layer {_layer(module)}")
    assert not bad, "\n".join(bad)


def test_no_import_inside_a_function_except_optional_dependencies():
    bad = [f"{path.relative_to(PROJECT_ROOT)}:{line} imports {target} inside a function"
           for path in _package_files() for target, inside, line in _imports(path)
           if inside and not target.startswith(OPTIONAL_IMPORTS)
           and not target.startswith(DEFERRED_IMPORTS.get(str(path.relative_to(PROJECT_ROOT)), ("-",)))]
    assert not bad, "\n".join(bad)


def test_deferred_imports_stay_out_of_the_package_import():
    """Importing the package (as every notebook kernel does) does not import the deferred modules."""
    import subprocess
    import sys

    code = ("import sys; import analysis.clock, analysis.figures, analysis.trial_analysis, analysis.patterns; "
            "print(' '.join(m for m in ('skops.io', 'nilearn.plotting') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported with the package: {out.stdout.strip()}"


def test_the_cycle_check_can_fail(tmp_path, monkeypatch):
    """The checker finds a planted cycle (a test that cannot fail is a defect)."""
    pkg = tmp_path / "analysis"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from analysis import b\n")
    (pkg / "b.py").write_text("import analysis.a\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE", pkg)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PROJECT_ROOT", tmp_path)
    graph = _graph()
    assert graph["analysis.a"] == {"analysis.b"} and graph["analysis.b"] == {"analysis.a"}


# --------------------------------------------------------------------------------------------
# notebooks
# --------------------------------------------------------------------------------------------
def _code_cells(path: Path) -> list[tuple[int, str]]:
    """(first line, source) of each code cell of a py:percent notebook."""
    cells, current, start, kind = [], [], 1, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("# %%"):
            if kind == "code":
                cells.append((start, "\n".join(current)))
            kind = "markdown" if "[markdown]" in line else "code"
            current, start = [], number + 1
        elif kind == "code":
            current.append(line)
    if kind == "code":
        cells.append((start, "\n".join(current)))
    return cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_cells_have_no_def_for_or_while(path):
    """Thin notebooks: logic lives in the package, a cell calls it and records results."""
    bad = []
    for start, source in _code_cells(path):
        for node in ast.walk(ast.parse(source)):
            kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While,
                     ast.Lambda, ast.comprehension)
            if isinstance(node, kinds):
                bad.append(f"{path.name}:{start + (node.lineno if hasattr(node, 'lineno') else node.target.lineno) - 1}: "
                           f"{type(node).__name__}")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------------
# dependencies
# --------------------------------------------------------------------------------------------
#: Distribution name -> import name, where they differ.
IMPORT_NAMES = {"scikit-learn": "sklearn", "pyyaml": "yaml", "jupyter-book": "jupyter_book",
                "sphinxcontrib-bibtex": "sphinxcontrib.bibtex", "ipykernel": "ipykernel"}


def _runtime_dependencies() -> list[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]]


def test_every_runtime_dependency_is_imported_by_the_package_or_the_book():
    sources = [path.read_text() for path in [*_package_files(), *(PROJECT_ROOT / "book" / "_ext").glob("*.py"),
                                             *(PROJECT_ROOT / "tools").glob("*.py")]]
    sources += [source for path in NOTEBOOKS for _, source in _code_cells(path)]
    imported = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    tops = {name.split(".")[0] for name in imported}
    unused = [dep for dep in _runtime_dependencies()
              if IMPORT_NAMES.get(dep, dep.replace("-", "_")).split(".")[0] not in tops]
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"


def test_docs_architecture_lists_every_module_in_its_layer():
    """docs/architecture.md and LAYERS agree, and every top-level module of the package is listed."""
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    documented = {}
    for layer, cell in re.findall(r"^\| (\d) \| (.+?) \|", text, flags=re.M):
        for name in re.findall(r"`analysis\.([a-z_]+)`", cell):
            documented[name] = int(layer)
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert set(documented) == tops, (sorted(set(documented) ^ tops))
    assert all(LAYERS[name] == layer for name, layer in documented.items()), documented

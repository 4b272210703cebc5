"""The package's layering: every module imports only from layers below its own, and shares no private names.

The layers, lowest first (``../shared/DESIGN.md`` draws the same picture). Packages on one layer
are features beside each other and import nothing from one another. Every import counts: at
module level, inside functions and under ``TYPE_CHECKING``; a name that moved and still resolves
at its old place (:mod:`asetools._moved`) is looked up by string and is no import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "asetools"

LAYERS: list[set[str]] = [
    {"", "_files", "_optional", "_moved", "config", "allocator"},  # "" is asetools/__init__
    {"_output"},
    {"graph"},
    {"io"},
    {"data"},
    {"models"},
    {"valence"},
    {"uncertainty"},
    {"checkpoint"},
    {"training"},
    {"calculators"},
    {"integrators"},
    {"analysis"},
    {"density", "lammps"},
    {"testing", "cli"},
    {"__main__"},
]
LAYER_OF = {unit: index for index, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _imports(path: Path):
    """``(line, imported module, names)`` of every asetools import in the file at ``path``."""
    module, is_package = _module_name(path)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "asetools" or target.startswith("asetools."):
                yield node.lineno, target, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("asetools"):
                    yield node.lineno, alias.name, []


def _unit(module: str) -> str:
    """The top-level unit of ``asetools.<unit>...`` ('' for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _all_imports():
    for path in sorted(PACKAGE.rglob("*.py")):
        module, _ = _module_name(path)
        for line, target, names in _imports(path):
            # "from asetools import graph" imports the unit named, not the root package
            units = {_unit(f"{target}.{name}") for name in names} if target == "asetools" else {_unit(target)}
            for unit in units:
                yield f"{path.relative_to(PACKAGE.parent)}:{line}", _unit(module), unit, target, names


def test_every_unit_is_on_a_layer():
    units = {_unit(_module_name(path)[0]) for path in PACKAGE.rglob("*.py")}
    assert units <= set(LAYER_OF), f"put {sorted(units - set(LAYER_OF))} on a layer of this test and DESIGN"


def test_no_upward_or_sideways_import():
    wrong = [
        f"{where}: {importer} (layer {LAYER_OF[importer]}) imports {target} (layer {LAYER_OF[unit]})"
        for where, importer, unit, target, _ in _all_imports()
        if unit in LAYER_OF and importer in LAYER_OF and unit != importer and LAYER_OF[unit] >= LAYER_OF[importer]
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_private_name_is_shared_between_units():
    shared = [
        f"{where}: {importer} imports {name} from {target}"
        for where, importer, unit, target, names in _all_imports()
        if unit != importer
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not shared, "private names used outside their unit (make them public or move them):\n" + "\n".join(shared)


def test_the_checker_sees_a_violation():
    # An upward import written into a scratch module is reported with its place.
    source = "from ..calculators import PotentialCalc\n"
    tree_module = PACKAGE / "models" / "_layering_probe.py"
    tree_module.write_text(source, encoding="utf-8")
    try:
        found = [(importer, unit) for _, importer, unit, _, _ in _all_imports() if importer == "models" and unit == "calculators"]
    finally:
        tree_module.unlink()
    assert found == [("models", "calculators")]


@pytest.mark.parametrize("old, new, name", [
    ("asetools.models", "asetools.density", "DensityModel"),
    ("asetools.calculators", "asetools.density", "DensityCalculator"),
    ("asetools.checkpoint", "asetools.density", "load_density_model"),
])
def test_moved_names_still_import_from_their_old_place_with_a_warning(old, new, name):
    import importlib

    with pytest.warns(DeprecationWarning, match=f"moved to {new}"):
        moved = getattr(importlib.import_module(old), name)
    assert moved is getattr(importlib.import_module(new), name)


def _documented_packages():
    for init in sorted(PACKAGE.rglob("__init__.py")):
        yield init.parent


@pytest.mark.parametrize("package", list(_documented_packages()), ids=lambda p: p.relative_to(PACKAGE.parent).as_posix())
def test_every_package_docstring_names_what_it_holds(package):
    # Each public module and subpackage appears in its package's docstring as ``.name``
    # (``:mod:`.frames```, ``asetools.graph``), so a room that gains a module says so.
    import re

    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    members = [p.stem for p in package.glob("*.py") if not p.stem.startswith("_")]
    members += [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    missing = [name for name in members if not re.search(rf"\.{name}\b", docstring)]
    assert not missing, f"{package.name}/__init__.py's docstring does not say it holds {missing}"


def _module_level_imports(path: Path) -> set[str]:
    """Modules the file at ``path`` imports when it is itself imported (not in functions or TYPE_CHECKING)."""
    module, is_package = _module_name(path)
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    statements = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.Try, ast.With)):
            statements.extend(node.body)
        if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            statements.extend(node.body + node.orelse)
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            if target.startswith("asetools"):
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    exists = (PACKAGE.parent / Path(*submodule.split("."))).with_suffix(".py").is_file() or (
                        PACKAGE.parent / Path(*submodule.split(".")) / "__init__.py"
                    ).is_file()
                    found.add(submodule if exists else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("asetools"))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles of ``graph`` (module -> modules it imports), each as the modules around it."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state and target in graph:
                visit(target, trail + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle_between_modules():
    graph = {_module_name(path)[0]: _module_level_imports(path) for path in PACKAGE.rglob("*.py")}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]  # the finder finds
    cycles = _cycles(graph)
    assert not cycles, "module import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_imports_and_commands_users_have_keep_working():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from asetools.calculators import (  # noqa: F401
            AllegroCalc,
            DensityCalculator,
            EnsembleCalc,
            MTSCalc,
            PotentialCalc,
            ValenceCalc,
        )
        from asetools.models import Allegro, DensityModel, NequIP, OrbitalBasisConfig, Potential  # noqa: F401
    import asetools.density
    from asetools.cli import build_parser

    assert DensityCalculator is asetools.density.DensityCalculator and DensityModel is asetools.density.DensityModel
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == {
        "info", "train", "evaluate", "rdf", "msd", "fit-uncertainty", "uq-map", "lammps-md", "density",
        "train-density", "dft-density", "dft-label", "valence-fit",
    }


def test_the_command_line_parser_loads_no_torch():
    import subprocess
    import sys

    code = "import sys; from asetools.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"

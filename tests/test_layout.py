"""The package layout is the architecture: these import rules keep it that way.

Read statically (every ``import`` in every module, also those inside functions),
so a rule is broken the moment a line is written, not when some test happens
to import the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "splitbrain"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement in ``path``."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, [a.name for a in node.names]))
    return out


def _modules(under: str = "") -> list[Path]:
    return sorted((PKG / under).rglob("*.py"))


def test_checkers_import_nothing_above_them() -> None:
    """checkers are pure functions History -> Result: no harness, backends, nemesis, reports or CLI."""
    above = ("splitbrain.harness", "splitbrain.backends", "splitbrain.nemesis", "splitbrain.reports",
             "splitbrain.cli", "splitbrain.hunt", "click")
    bad = [f"{p.relative_to(PKG)}: {m}" for p in _modules("checkers") for m, _ in _imports(p)
           if m.startswith(above)]
    assert bad == []


def test_backends_import_nothing_that_drives_them() -> None:
    """Backends start nodes and apply faults for the harness; they never reach up into it, the
    nemesis that calls them, the report or the CLI (shared data types live at the top: history,
    messages, results)."""
    above = ("splitbrain.harness", "splitbrain.nemesis", "splitbrain.reports", "splitbrain.cli", "splitbrain.hunt")
    bad = [f"{p.relative_to(PKG)}: {m}" for p in _modules("backends") for m, _ in _imports(p)
           if m.startswith(above)]
    assert bad == []


def test_click_only_in_the_cli_package() -> None:
    bad = [str(p.relative_to(PKG)) for p in _modules() if not p.is_relative_to(PKG / "cli")
           for m, _ in _imports(p) if m == "click" or m.startswith("click.")]
    assert bad == []


def test_nothing_imports_a_cli_module_but_the_cli() -> None:
    """Option parsing and checks live in the packages (harness.build, checkers.judge); the CLI calls them."""
    bad = [f"{p.relative_to(PKG)}: {m}" for p in _modules() if not p.is_relative_to(PKG / "cli")
           for m, _ in _imports(p) if m == "splitbrain.cli" or m.startswith("splitbrain.cli.")]
    assert bad == [p for p in bad if p.startswith("__main__.py")]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path) -> list[str]:
    """Private names of other splitbrain modules that ``path`` imports or reads as ``module._name``."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()  # local names bound to splitbrain modules
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("splitbrain")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("splitbrain"):
            out += [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
            modules |= {a.asname or a.name for a in node.names if (PKG.parent / (node.module or "").replace(".", "/")
                                                                   / f"{a.name}.py").exists()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                and _private(node.attr):
            out.append(f"{node.value.id}.{node.attr}")
    return out


def test_no_private_name_crosses_a_module_border() -> None:
    bad = [f"{p.relative_to(PKG)}: {use}" for p in _modules() for use in _private_uses(p)]
    assert bad == []

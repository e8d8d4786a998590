"""What the distribution promises: a licence, a name of its own on the package index, and every
third-party package the code imports declared as a dependency (an undeclared one works here only
because something else happened to pull it in)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import recsys

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(recsys.__file__).parent


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "recsys"}


def test_every_imported_package_is_declared() -> None:
    declared = {
        _normalised(re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0])
        for spec in _project()["dependencies"]
    }
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(imported_top_level_modules()):
        distributions = {_normalised(d) for d in providers.get(module, [module])}
        if not distributions & declared:
            undeclared[module] = sorted(distributions)
    assert undeclared == {}, f"imported but not in pyproject's dependencies: {undeclared}"


def test_the_distribution_has_its_own_name_and_a_licence() -> None:
    project = _project()
    # "recsys" on the package index belongs to an unrelated project; the import name stays.
    assert project["name"] != "recsys"
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()

"""The packages depend on each other in one direction: the pure core (ranking, signals, policy,
data, bandit) never reaches for storage, the web service, the toolkit or the CLI; the offline
evaluator never reaches for the toolkit that is built on it; and no two packages import each
other, directly or round a longer loop. Every import counts, function-level ones included."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import recsys

PACKAGE = Path(recsys.__file__).parent
CORE = ("ranking", "signals", "policy", "data", "bandit")
OUTER = ("store", "service", "toolkit", "cli")


def package_imports() -> dict[str, set[str]]:
    """recsys subpackage -> the other recsys subpackages (or top-level modules) it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        source = parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.startswith("recsys."):
                    target = name.split(".")[1]
                    if target != source:
                        edges[source].add(target)
    return edges


def test_the_core_never_imports_the_outer_layers() -> None:
    edges = package_imports()
    wrong = {(core, outer) for core in CORE for outer in OUTER if outer in edges[core]}
    assert wrong == set()


def test_offline_never_imports_the_toolkit() -> None:
    assert "toolkit" not in package_imports()["offline"]


def test_no_package_cycle() -> None:
    edges = package_imports()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            assert state.get(target) != "open", f"import cycle: {' -> '.join([*path, target])}"
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_quality_benchmark_loads_no_http_client() -> None:
    probe = (
        "import sys, recsys.offline.quality; "
        "print(sorted({'httpx', 'recsys.client', 'recsys.toolkit'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

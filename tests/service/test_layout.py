"""service/ is organised by layer: bodies in schemas/, dependency aliases in deps.py, no
feature-prefixed modules beside them."""

from __future__ import annotations

import ast
from pathlib import Path

import recsys.service

SERVICE = Path(recsys.service.__file__).parent


def modules() -> list[Path]:
    return sorted(SERVICE.rglob("*.py"))


def test_every_body_model_lives_in_schemas() -> None:
    misplaced = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            is_body = isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", "") in {"BaseModel", "StrictModel"} for base in node.bases
            )
            if is_body and path.parent.name != "schemas":
                misplaced.append(f"{path.relative_to(SERVICE)}:{getattr(node, 'name', '')}")
    assert misplaced == []


def test_dependencies_are_declared_in_deps_only() -> None:
    users = [
        str(path.relative_to(SERVICE))
        for path in modules()
        if "Depends(" in path.read_text() and path.name != "deps.py"
    ]
    assert users == []


def test_no_feature_prefixed_modules_beside_the_layers() -> None:
    top = {path.stem for path in SERVICE.glob("*.py")}
    assert not {name for name in top if name.startswith("bandit") or name.endswith("_schemas")}
    assert {"schemas", "routes", "flows"} <= {p.name for p in SERVICE.iterdir() if p.is_dir()}


def test_a_builder_does_not_load_the_web_app() -> None:
    """`recsys build` and a scale benchmark's build child import the snapshot registry and the
    artifact shelf only: the web framework, the console and their libraries (70 MiB of a
    builder's memory) stay unloaded until the app is created."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import recsys.service.artifacts, recsys.service.snapshots\n"
        "web = ('fastapi', 'starlette', 'jinja2', 'uvicorn')\n"
        "print(sorted(m for m in web if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"

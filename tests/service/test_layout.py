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

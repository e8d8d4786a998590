"""Evidence: timestamped folders of JSON (and CSV/PNG/Markdown) that record what a tool did,
with a manifest, and a zip bundle of a folder for sharing."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys import __version__

ANALYSIS = Path("analysis")


def stamp(now: datetime) -> str:
    """UTC timestamp for folder names: 20261126T101500Z."""
    return now.strftime("%Y%m%dT%H%M%SZ")


def new_folder(root: Path, name: str) -> Path:
    folder = root / name
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = root / f"{name}_{suffix}"
    folder.mkdir(parents=True)
    return folder


def write_json(path: Path, payload: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def manifest(folder: Path, *, tool: str, now: datetime, extra: Mapping[str, Any]) -> Path:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    return write_json(
        folder / "manifest.json",
        {
            "tool": tool,
            "recsys_version": __version__,
            "created_at": now.isoformat(),
            "files": {
                str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in files
            },
            **extra,
        },
    )


def bundle(folder: Path, name: str = "evidence.zip") -> Path:
    """Zip every file of the folder (deterministic order) into folder/name."""
    target = folder / name
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path != target:
                zf.write(path, arcname=str(path.relative_to(folder)))
    return target


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=_jsonable).encode()
    ).hexdigest()[:16]


__all__ = ["ANALYSIS", "bundle", "fingerprint", "manifest", "new_folder", "stamp", "write_json"]

"""Finding tuning runs: summaries under analysis/results/tuning_runs/, matched by namespace or
by alias (runs made with --segment X are also `tune_seg_X`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recsys.toolkit.evidence import ANALYSIS

TUNING_RUNS = ANALYSIS / "results" / "tuning_runs"


def segment_alias(segment: str) -> str:
    return f"tune_seg_{segment}"


def all_summaries(root: Path = TUNING_RUNS) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(root.glob("*/summary.json")):
        try:
            found.append((path, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return found


def matching_summaries(name: str, root: Path = TUNING_RUNS) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, summary)
        for path, summary in all_summaries(root)
        if name == summary.get("namespace") or name in summary.get("aliases", [])
    ]


def known_names(root: Path = TUNING_RUNS) -> list[str]:
    names: set[str] = set()
    for _, summary in all_summaries(root):
        names.add(str(summary.get("namespace")))
        names.update(summary.get("aliases", []))
    return sorted(names)


__all__ = ["TUNING_RUNS", "all_summaries", "known_names", "matching_summaries", "segment_alias"]

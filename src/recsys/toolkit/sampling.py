"""What the live-ranking tools share: a seeded sample of a namespace's users, its catalogue as
plain rows, rankings of a sample over surfaces, and their evidence folders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from recsys.client import RecsysClient
from recsys.toolkit.evidence import ANALYSIS, manifest, new_folder, stamp, write_json

CATEGORY_PREFIX = "category:"


class ToolInputError(ValueError):
    """The tool cannot run on what it was given (empty namespace, malformed flag...): exit 2."""


def all_users(client: RecsysClient, namespace: str) -> list[dict[str, Any]]:
    """Every user of the namespace, in user_id order."""
    return sorted(client.pages("users", namespace), key=lambda u: str(u["user_id"]))


def sample_of(users: Sequence[Mapping[str, Any]], n: int, *, seed: int) -> list[Any]:
    """Up to `n` of the users, drawn without replacement with `seed`, in their given order."""
    if len(users) <= n:
        return list(users)
    picks = np.random.default_rng(seed).choice(len(users), size=n, replace=False)
    return [users[int(i)] for i in sorted(picks)]


def sample_users(
    client: RecsysClient,
    namespace: str,
    n: int,
    *,
    seed: int,
    segment: str | None = None,
) -> list[dict[str, Any]]:
    """Up to `n` users of the namespace (only `traits.segment == segment` when given), drawn
    without replacement with `seed`; the same data and seed give the same sample, in user_id
    order."""
    users = all_users(client, namespace)
    if segment is not None:
        users = [u for u in users if segment_of(u) == segment]
    if not users:
        where = f" in segment {segment!r}" if segment else ""
        raise ToolInputError(f"namespace {namespace!r} has no users{where}: seed it first")
    return sample_of(users, n, seed=seed)


def segment_of(user: Mapping[str, Any]) -> str:
    return str((user.get("traits") or {}).get("segment") or "unknown")


def fetch_catalogue(client: RecsysClient, namespace: str) -> dict[str, dict[str, Any]]:
    """Every item row of the namespace, by item_id."""
    catalogue = {str(item["item_id"]): item for item in client.pages("items", namespace)}
    if not catalogue:
        raise ToolInputError(f"namespace {namespace!r} has no items: seed it first")
    return catalogue


def category_features(item: Mapping[str, Any]) -> set[str]:
    """The item's category and every level of its category path (unprefixed)."""
    names = {str(level) for level in item.get("category_path") or ()}
    if item.get("category"):
        names.add(str(item["category"]))
    return names


def item_features(item: Mapping[str, Any]) -> set[str]:
    """Tags plus "category:<name>" for the category and each level of its path: the same
    vocabulary rules, constraints and profiles speak."""
    return {str(t) for t in item.get("tags") or ()} | {
        CATEGORY_PREFIX + c for c in category_features(item)
    }


@dataclass(frozen=True)
class Ranked:
    """One ranking of the sample: who asked, where, and what came back."""

    user_id: str | None
    segment: str
    surface: str | None
    response: dict[str, Any]

    @property
    def item_ids(self) -> list[str]:
        return [str(i["item_id"]) for i in self.response["items"]]


def rank_sample(
    client: RecsysClient,
    namespace: str,
    users: Sequence[Mapping[str, Any]],
    *,
    surfaces: Sequence[str | None],
    k: int,
    overrides: Mapping[str, Any] | None = None,
    **extra: Any,
) -> list[Ranked]:
    """POST /v1/recommendations for every (user, surface) pair."""
    out: list[Ranked] = []
    for surface in surfaces:
        for user in users:
            body: dict[str, Any] = {"user_id": user["user_id"], "k": k, **extra}
            if surface:
                body["surface"] = surface
            if overrides:
                body["overrides"] = dict(overrides)
            response = client.recommend(namespace, **body)
            out.append(Ranked(str(user["user_id"]), segment_of(user), surface, response))
    return out


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def share(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0


def percentiles(
    values: Iterable[float], points: Sequence[int] = (50, 90, 99)
) -> dict[str, float | None]:
    """Percentiles rounded to 3 decimals; None when there are no values (JSON has no NaN)."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return {f"p{p}": None for p in points}
    return {f"p{p}": round(float(np.percentile(array, p)), 3) for p in points}


def evidence_folder(tool: str, namespace: str, now: datetime) -> Path:
    """analysis/evidence/<tool>_<namespace>_<UTC stamp>/ (suffixed when it exists)."""
    return new_folder(ANALYSIS / "evidence", f"{tool}_{namespace}_{stamp(now)}")


def write_evidence(
    folder: Path,
    files: Mapping[str, Any],
    *,
    script: str,
    now: datetime,
    extra: Mapping[str, Any],
) -> Path:
    """Write JSON files into the folder, then its manifest (which hashes everything there)."""
    for name, payload in files.items():
        write_json(folder / name, payload)
    manifest(folder, tool=script, now=now, extra=dict(extra))
    return folder


__all__ = [
    "CATEGORY_PREFIX",
    "Ranked",
    "ToolInputError",
    "all_users",
    "category_features",
    "evidence_folder",
    "fetch_catalogue",
    "item_features",
    "percentiles",
    "rank_sample",
    "sample_of",
    "sample_users",
    "segment_of",
    "share",
    "split_list",
    "write_evidence",
]

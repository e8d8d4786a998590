"""Snapshot artifacts: a namespace's slowly changing signal state written once, mapped by many.

An artifact is one directory per version under `<root>/<org>/<namespace>/`: one `.npy` file per
array and a `manifest.json` naming each file with its dtype, shape, size and SHA-256. It is
written into a hidden temporary directory and published by one atomic rename, so a reader sees a
whole version or none; a builder killed mid-write leaves only a temporary directory behind
(swept later), never a half-published version.

Readers map the arrays read-only (`np.load(mmap_mode="r")`): processes on one host that load the
same version share its pages. Before anything is served from a version every file is checked
against the manifest (size and checksum) and the manifest's format against this code's; a
mismatch raises `ArtifactError` and the caller rebuilds instead of serving it.

What a version holds (`ArtifactContent`): the coded event log and its id vocabularies, the
catalogue's item ids the heavy signals are indexed by, and the heavy signals themselves
(co-visitation, item model, user factors, learned vectors and their index), with the store
position it was built from (`meta`: last event id, store versions, event count) so a loader
applies only newer events."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.signals.assemble import EventLog, Vocabulary
from recsys.signals.item_model import ItemModel
from recsys.signals.user_factors import UserFactors, with_gram
from recsys.signals.vector_index import VectorIndex

# Bumped whenever the layout or meaning of an artifact changes: older code refuses newer
# artifacts (and the other way round) instead of misreading them.
FORMAT = 3
MANIFEST = "manifest.json"
_TEMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


class ArtifactError(Exception):
    """A version that must not be served: missing, truncated, corrupt or of another format."""


@dataclass(frozen=True, eq=False)
class ArtifactContent:
    events: EventLog
    item_ids: np.ndarray  # str: the catalogue (sorted ids) the heavy signals are indexed by
    covisitation: sp.csr_matrix
    item_model: ItemModel
    user_factors: UserFactors
    item_vectors: np.ndarray | None  # learned vectors (caller embeddings live in the catalogue)
    vector_index: VectorIndex | None
    heavy_event_count: int  # size of the log the heavy signals were computed from
    meta: Mapping[str, Any] = field(default_factory=dict)  # JSON: store position, params, ...


@dataclass(frozen=True)
class Published:
    path: Path
    version: str
    bytes: int


def namespace_dir(root: Path, org_id: str, namespace: str) -> Path:
    """Where a namespace's versions live (ids are stored as given: the API restricts them to
    characters that are safe in a path)."""
    return root / org_id / namespace


def publish(root: Path, org_id: str, namespace: str, content: ArtifactContent) -> Published:
    """Write `content` as a new version and publish it atomically. Versions are named so that
    later ones sort after earlier ones (zero-padded sequence number, then a unique suffix)."""
    home = namespace_dir(root, org_id, namespace)
    home.mkdir(parents=True, exist_ok=True)
    sequence = 1 + max((_sequence(p.name) for p in versions(root, org_id, namespace)), default=0)
    version = f"{sequence:010d}-{uuid.uuid4().hex[:8]}"
    temp = home / f"{_TEMP_PREFIX}{version}"
    temp.mkdir()
    try:
        files: dict[str, Any] = {}
        for name, array in _arrays(content).items():
            files[name] = _write_array(temp / f"{name}.npy", array)
        manifest = {
            "format": FORMAT,
            "version": version,
            "files": files,
            "covisitation_shape": list(content.covisitation.shape),
            "heavy_event_count": int(content.heavy_event_count),
            "has_vectors": content.item_vectors is not None,
            "has_vector_index": content.vector_index is not None,
            "user_factors": {"l2": content.user_factors.l2, "alpha": content.user_factors.alpha},
            "meta": dict(content.meta),
        }
        _write_bytes(temp / MANIFEST, json.dumps(manifest, sort_keys=True, indent=1).encode())
        _fsync_dir(temp)
        final = home / version
        os.rename(temp, final)
        _fsync_dir(home)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    size = sum(f["bytes"] for f in files.values())
    return Published(path=final, version=version, bytes=size)


def versions(root: Path, org_id: str, namespace: str) -> list[Path]:
    """Published versions of a namespace, oldest first (temporary directories excluded)."""
    home = namespace_dir(root, org_id, namespace)
    if not home.is_dir():
        return []
    found = [p for p in home.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(found, key=lambda p: p.name)


def load(path: Path, *, verify: bool = True) -> ArtifactContent:
    """Map a published version read-only. With `verify` (the default; only tests skip it),
    every file's size and SHA-256 are checked against the manifest first."""
    try:
        manifest = json.loads((path / MANIFEST).read_bytes())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path.name}: unreadable manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ArtifactError(
            f"{path.name}: artifact format {manifest.get('format')!r}, this code reads {FORMAT}"
        )
    files: dict[str, Any] = manifest["files"]
    arrays: dict[str, np.ndarray] = {}
    for name, described in files.items():
        file = path / described["file"]
        if verify:
            _verify(file, described)
        try:
            arrays[name] = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{path.name}: {described['file']} unreadable ({exc})") from exc
        if list(arrays[name].shape) != described["shape"]:
            raise ArtifactError(f"{path.name}: {described['file']} has the wrong shape")
    try:
        return _content(manifest, arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{path.name}: not a complete artifact ({exc!r})") from exc


def collect_garbage(root: Path, org_id: str, namespace: str, *, keep: int = 2) -> list[Path]:
    """Remove all but the `keep` newest versions and any leftover temporary directory (of a
    writer that died). Readers that mapped a removed version keep their pages until they let
    go: unlinking does not pull mapped files from under a process."""
    home = namespace_dir(root, org_id, namespace)
    removed: list[Path] = []
    if not home.is_dir():
        return removed
    published = versions(root, org_id, namespace)
    doomed = published[: max(0, len(published) - keep)]
    doomed += [p for p in home.iterdir() if p.is_dir() and p.name.startswith(_TEMP_PREFIX)]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def remove(path: Path) -> None:
    """Unpublish one version (a damaged one: it is rebuilt rather than served)."""
    shutil.rmtree(path, ignore_errors=True)


def _sequence(version: str) -> int:
    head = version.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _arrays(content: ArtifactContent) -> dict[str, np.ndarray]:
    events = content.events
    covis = content.covisitation.tocsr()
    arrays = {
        "events_user": events.user,
        "events_item": events.item,
        "events_type": events.type,
        "events_value": events.value,
        "events_ts_us": events.ts_us,
        **_packed("user_ids", events.users.ids),
        **_packed("event_item_ids", events.items.ids),
        **_packed("catalog_item_ids", [str(i) for i in content.item_ids]),
        "covis_indptr": covis.indptr,
        "covis_indices": covis.indices,
        "covis_data": covis.data,
        "model_head": content.item_model.head,
        "model_position": content.item_model.position,
        "model_weights": content.item_model.weights,
        "user_item_factors": content.user_factors.item_factors,
    }
    if content.item_vectors is not None:
        arrays["item_vectors"] = content.item_vectors
    if content.vector_index is not None:
        arrays["index_centres"] = content.vector_index.centres
        arrays["index_members"] = content.vector_index.members
        arrays["index_offsets"] = content.vector_index.offsets
    return arrays


def _content(manifest: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> ArtifactContent:
    user_ids = _unpacked(arrays, "user_ids")
    item_ids = _unpacked(arrays, "event_item_ids")
    events = EventLog(
        users=Vocabulary(user_ids, {u: n for n, u in enumerate(user_ids)}),
        items=Vocabulary(item_ids, {i: n for n, i in enumerate(item_ids)}),
        user=arrays["events_user"],
        item=arrays["events_item"],
        type=arrays["events_type"],
        value=arrays["events_value"],
        ts_us=arrays["events_ts_us"],
    )
    covisitation = sp.csr_matrix(
        (arrays["covis_data"], arrays["covis_indices"], arrays["covis_indptr"]),
        shape=tuple(manifest["covisitation_shape"]),
        copy=False,
    )
    vector_index = None
    if manifest["has_vector_index"]:
        vector_index = VectorIndex(
            centres=arrays["index_centres"],
            members=arrays["index_members"],
            offsets=arrays["index_offsets"],
        )
    return ArtifactContent(
        events=events,
        item_ids=np.asarray(_unpacked(arrays, "catalog_item_ids"), dtype=object),
        covisitation=covisitation,
        item_model=ItemModel(
            head=arrays["model_head"],
            position=arrays["model_position"],
            weights=arrays["model_weights"],
        ),
        user_factors=with_gram(arrays["user_item_factors"], **manifest["user_factors"]),
        item_vectors=arrays["item_vectors"] if manifest["has_vectors"] else None,
        vector_index=vector_index,
        heavy_event_count=int(manifest["heavy_event_count"]),
        meta=manifest["meta"],
    )


def _packed(name: str, values: list[str]) -> dict[str, np.ndarray]:
    """Strings as one UTF-8 buffer and their end offsets: compact whatever the longest id is
    (a fixed-width array would pad every id to it), and loadable without pickle."""
    encoded = [v.encode() for v in values]
    ends = (
        np.cumsum([len(b) for b in encoded], dtype=np.int64) if encoded else np.empty(0, np.int64)
    )
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return {f"{name}_utf8": blob, f"{name}_ends": ends}


def _unpacked(arrays: Mapping[str, np.ndarray], name: str) -> list[str]:
    text = bytes(arrays[f"{name}_utf8"])
    ends = arrays[f"{name}_ends"].tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [text[a:b].decode() for a, b in zip(starts, ends, strict=True)]


def _write_array(path: Path, array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    with path.open("wb") as out:
        np.save(out, array, allow_pickle=False)
        out.flush()
        os.fsync(out.fileno())
    return {
        "file": path.name,
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
    }


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _verify(file: Path, described: Mapping[str, Any]) -> None:
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise ArtifactError(f"{file.parent.name}: {file.name} missing") from exc
    if size != described["bytes"]:
        raise ArtifactError(
            f"{file.parent.name}: {file.name} is {size} bytes, the manifest says "
            f"{described['bytes']} (truncated?)"
        )
    if _sha256(file) != described["sha256"]:
        raise ArtifactError(f"{file.parent.name}: {file.name} fails its checksum")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "FORMAT",
    "ArtifactContent",
    "ArtifactError",
    "Published",
    "collect_garbage",
    "load",
    "namespace_dir",
    "publish",
    "remove",
    "versions",
]

"""Where a deployment keeps its snapshot artifacts, and who may build them.

One builder per namespace at a time across every process of a deployment: the build lock is a
PostgreSQL advisory lock when the store is PostgreSQL (so several hosts on one database agree),
and an exclusive file lock in the artifact directory on SQLite (one host by nature). A version
is only adopted when it was built from this very store (its id is recorded in the manifest),
before the namespace's last event deletion (reset version) and with the signal parameters in
force now; anything else is skipped, and a damaged version is removed so it is rebuilt."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from recsys.signals import artifact
from recsys.signals.artifact import ArtifactContent, ArtifactError
from recsys.store import Store
from recsys.store.secrets import service_secret

log = logging.getLogger("recsys.artifacts")

# Versions kept per namespace (the newest serves, the one before covers readers that mapped it).
KEEP_VERSIONS = 2


@dataclass
class ShelfCounters:
    published: int = 0
    loaded: int = 0
    rejected: int = 0  # damaged or of another format: removed


@dataclass
class ArtifactShelf:
    root: Path
    store: Store
    counters: ShelfCounters = field(default_factory=ShelfCounters)
    _store_id: str | None = None

    @property
    def store_id(self) -> str:
        """Identifies the database the artifacts were built from (a random id it keeps)."""
        if self._store_id is None:
            with self.store.write() as conn:
                self._store_id = service_secret(conn, name="snapshot_store_id").hex()[:32]
        return self._store_id

    @contextmanager
    def build_lock(self, org_id: str, namespace: str) -> Iterator[bool]:
        """Try to become the namespace's builder: yields True when this process holds the lock
        for the duration of the block, False when another process does."""
        if self.store.dialect == "postgresql":
            with self._advisory_lock(org_id, namespace) as held:
                yield held
        else:
            with self._file_lock(org_id, namespace) as held:
                yield held

    def newest(
        self,
        org_id: str,
        namespace: str,
        accept: Callable[[Mapping[str, Any]], bool],
        *,
        newer_than: str | None = None,
    ) -> tuple[str, ArtifactContent] | None:
        """The newest intact version whose meta `accept`s (and that this store built), among
        those published after `newer_than`: older ones are not even read."""
        for path in reversed(artifact.versions(self.root, org_id, namespace)):
            if newer_than is not None and path.name <= newer_than:
                break
            try:
                content = artifact.load(path)
            except ArtifactError as exc:
                log.warning("snapshot artifact %s rejected and removed: %s", path, exc)
                self.counters.rejected += 1
                artifact.remove(path)
                continue
            if content.meta.get("store_id") != self.store_id or not accept(content.meta):
                continue
            self.counters.loaded += 1
            return path.name, content
        return None

    def namespaces(self) -> list[tuple[str, str]]:
        """Namespaces with a version built from this store, most recently published first
        (read from the manifests only; `newest` verifies the files before use)."""
        found: list[tuple[float, str, str]] = []
        if not self.root.is_dir():
            return []
        for org_dir in self.root.iterdir():
            if not org_dir.is_dir():
                continue
            for ns_dir in org_dir.iterdir():
                published = artifact.versions(self.root, org_dir.name, ns_dir.name)
                if not published:
                    continue
                newest = published[-1]
                try:
                    meta = json.loads((newest / artifact.MANIFEST).read_bytes()).get("meta", {})
                    stamp = newest.stat().st_mtime
                except (OSError, ValueError):
                    continue
                if meta.get("store_id") == self.store_id:
                    found.append((stamp, org_dir.name, ns_dir.name))
        return [(org_id, namespace) for _, org_id, namespace in sorted(found, reverse=True)]

    def publish(self, org_id: str, namespace: str, content: ArtifactContent) -> str:
        content = replace(content, meta={**content.meta, "store_id": self.store_id})
        published = artifact.publish(self.root, org_id, namespace, content)
        self.counters.published += 1
        artifact.collect_garbage(self.root, org_id, namespace, keep=KEEP_VERSIONS)
        log.info(
            "snapshot artifact published: %s/%s version %s (%.1f MiB)",
            org_id,
            namespace,
            published.version,
            published.bytes / 2**20,
        )
        return published.version

    @contextmanager
    def _advisory_lock(self, org_id: str, namespace: str) -> Iterator[bool]:
        key = _lock_key(org_id, namespace)
        with self.store.engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()

    @contextmanager
    def _file_lock(self, org_id: str, namespace: str) -> Iterator[bool]:
        home = artifact.namespace_dir(self.root, org_id, namespace)
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / ".build.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                held = False
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _lock_key(org_id: str, namespace: str) -> int:
    digest = hashlib.blake2b(f"recsys-build\0{org_id}\0{namespace}".encode(), digest_size=8)
    return int(np.frombuffer(digest.digest(), dtype=np.int64)[0])


__all__ = ["KEEP_VERSIONS", "ArtifactShelf", "ShelfCounters"]

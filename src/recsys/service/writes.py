"""Write transactions that tell the snapshot registry once they have committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from recsys.store import Store


class Writes:
    def __init__(self, store: Store, on_commit: Callable[[str, str], None]) -> None:
        self.store = store
        self.on_commit = on_commit

    @contextmanager
    def transaction(self, org_id: str, namespace: str) -> Iterator[Connection]:
        """One atomic write to a namespace; listeners hear of it only after the commit."""
        with self.store.write() as conn:
            yield conn
        self.on_commit(org_id, namespace)


__all__ = ["Writes"]

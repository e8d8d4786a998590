"""Public datasets, fetched at run time into a git-ignored cache and mapped to API records.

Nothing here is redistributed: each dataset is downloaded by the user from its source, verified
against a pinned sha256 and read from the cache. See docs/datasets.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsys.datasets.cache import DatasetError, resolve_cache_dir
from recsys.datasets.records import DatasetRecords, write_import_files


@dataclass(frozen=True)
class DatasetSpec:
    """What the CLI needs to know about one dataset."""

    name: str
    summary: str
    licence: str
    fetch: Callable[[Path], Path]
    load: Callable[[Path], DatasetRecords]
    is_fetched: Callable[[Path], bool]
    cached_path: Callable[[Path], Path]


def known_datasets() -> dict[str, DatasetSpec]:
    """The datasets by name (built on call, so importing this package does nothing)."""
    from recsys.datasets import movielens

    return {
        movielens.NAME: DatasetSpec(
            name=movielens.NAME,
            summary="MovieLens-100K: 100,000 ratings (1-5) of 1,682 films by 943 users",
            licence=(
                "GroupLens research licence: research use only, no redistribution; "
                "fetched by you from PyPI (the recbole 1.2.1 wheel), never shipped with RecSys"
            ),
            fetch=movielens.fetch_movielens_100k,
            load=movielens.load_movielens_100k,
            is_fetched=movielens.is_fetched,
            cached_path=movielens.wheel_path,
        )
    }


__all__ = [
    "DatasetError",
    "DatasetRecords",
    "DatasetSpec",
    "known_datasets",
    "resolve_cache_dir",
    "write_import_files",
]

"""The catalogue as arrays. Item index = position in the item_id-sorted order, so sorting by
index breaks ties by item_id (determinism for free)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

CATEGORY_PREFIX = "category:"
BRAND_PREFIX = "brand:"


@dataclass(frozen=True, eq=False)
class Catalog:
    item_ids: np.ndarray  # str objects, sorted ascending
    index: Mapping[str, int]
    available: np.ndarray  # bool
    price: np.ndarray  # float64, NaN when unknown
    brand: np.ndarray  # int32 code into brand_names, -1 when none
    brand_names: tuple[str, ...]
    category: np.ndarray  # int32 code into category_names, -1 when none
    category_names: tuple[str, ...]
    created_at_us: np.ndarray  # int64
    # Binary item x feature matrix; features are the item's tags plus "category:<name>" for its
    # category and every level of its category_path. Profiles, constraints and MMR read it.
    features: sp.csr_matrix
    feature_names: tuple[str, ...]
    feature_index: Mapping[str, int]
    tag_mask: np.ndarray  # bool per feature: True for plain tags (not category features)
    embeddings: np.ndarray | None  # float32 unit rows (zeros where missing), or None
    titles: tuple[str | None, ...] = field(default=())

    @property
    def size(self) -> int:
        return len(self.item_ids)

    def indices_of(self, item_ids: Iterable[str]) -> np.ndarray:
        """Indices of the ids that exist (unknown ids are dropped), in the given order."""
        found = [self.index[i] for i in item_ids if i in self.index]
        return np.asarray(found, dtype=np.int64)

    def feature_codes(self, names: Iterable[str]) -> np.ndarray:
        return np.asarray(
            [self.feature_index[n] for n in names if n in self.feature_index], dtype=np.int64
        )

    def brand_codes(self, names: Iterable[str]) -> np.ndarray:
        lookup = {name: code for code, name in enumerate(self.brand_names)}
        return np.asarray([lookup[n] for n in names if n in lookup], dtype=np.int32)

    def category_codes(self, names: Iterable[str]) -> np.ndarray:
        lookup = {name: code for code, name in enumerate(self.category_names)}
        return np.asarray([lookup[n] for n in names if n in lookup], dtype=np.int32)


def _codes(values: list[str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    names = tuple(sorted({v for v in values if v}))
    lookup = {name: code for code, name in enumerate(names)}
    return np.asarray([lookup[v] if v else -1 for v in values], dtype=np.int32), names


def _brand_or_tag(row: Mapping[str, Any], field_name: str, prefix: str) -> str | None:
    """The item's own field, else a prefixed tag such as "brand:acme" (older catalogues)."""
    value = row.get(field_name)
    if value:
        return str(value)
    for tag in row.get("tags") or ():
        if isinstance(tag, str) and tag.startswith(prefix):
            return tag[len(prefix) :] or None
    return None


def build_catalog(rows: Iterable[Mapping[str, Any]]) -> Catalog:
    """Build from item rows (store rows or API dicts: item_id, available, price, brand, category,
    category_path, tags, embedding, created_at_us)."""
    ordered = sorted(rows, key=lambda r: r["item_id"])
    item_ids = np.asarray([r["item_id"] for r in ordered], dtype=object)
    n = len(ordered)
    brand, brand_names = _codes([_brand_or_tag(r, "brand", BRAND_PREFIX) for r in ordered])
    category, category_names = _codes(
        [_brand_or_tag(r, "category", CATEGORY_PREFIX) for r in ordered]
    )

    feature_index: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    for r in ordered:
        names = set()
        for tag in r.get("tags") or ():
            names.add(str(tag))
        cat = _brand_or_tag(r, "category", CATEGORY_PREFIX)
        if cat:
            names.add(CATEGORY_PREFIX + cat)
        for level in r.get("category_path") or ():
            names.add(CATEGORY_PREFIX + str(level))
        for name in sorted(names):
            code = feature_index.setdefault(name, len(feature_index))
            indices.append(code)
        indptr.append(len(indices))
    # Renumber features alphabetically so the catalogue is identical whatever the input order.
    feature_names = tuple(sorted(feature_index))
    remap = np.empty(len(feature_index), dtype=np.int64)
    for new, name in enumerate(feature_names):
        remap[feature_index[name]] = new
    data = np.ones(len(indices), dtype=np.float32)
    features = sp.csr_matrix(
        (
            data,
            remap[np.asarray(indices, dtype=np.int64)]
            if indices
            else np.asarray([], dtype=np.int64),
            np.asarray(indptr),
        ),
        shape=(n, len(feature_names)),
    )
    features.sort_indices()

    dims = {len(r["embedding"]) for r in ordered if r.get("embedding")}
    embeddings = None
    if len(dims) == 1:
        (dim,) = dims
        embeddings = np.zeros((n, dim), dtype=np.float32)
        for i, r in enumerate(ordered):
            if r.get("embedding"):
                embeddings[i] = np.asarray(r["embedding"], dtype=np.float32)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        np.divide(embeddings, norms, out=embeddings, where=norms > 0)

    return Catalog(
        item_ids=item_ids,
        index={item_id: i for i, item_id in enumerate(item_ids)},
        available=np.asarray([bool(r.get("available", True)) for r in ordered], dtype=bool),
        price=np.asarray(
            [np.nan if r.get("price") is None else float(r["price"]) for r in ordered],
            dtype=np.float64,
        ),
        brand=brand,
        brand_names=brand_names,
        category=category,
        category_names=category_names,
        created_at_us=np.asarray(
            [int(r.get("created_at_us") or 0) for r in ordered], dtype=np.int64
        ),
        features=features,
        feature_names=feature_names,
        feature_index={name: i for i, name in enumerate(feature_names)},
        tag_mask=np.asarray([not f.startswith(CATEGORY_PREFIX) for f in feature_names], dtype=bool),
        embeddings=embeddings,
        titles=tuple(r.get("title") for r in ordered),
    )


__all__ = ["CATEGORY_PREFIX", "Catalog", "build_catalog"]

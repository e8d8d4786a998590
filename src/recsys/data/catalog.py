"""The catalogue as arrays. Item index = position in the item_id-sorted order, so sorting by
index breaks ties by item_id (determinism for free)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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

    def as_of(self, at_us: int) -> Catalog:
        """The catalogue as it stood at `at_us`, as far as it can be told: items created later
        did not exist yet, so they are not available. Everything else (availability, price,
        tags) is as it is now: the store keeps no history of item attributes."""
        existed = self.created_at_us <= at_us
        if existed.all():
            return self
        return replace(self, available=self.available & existed)


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


@dataclass(slots=True)  # not frozen: a frozen init sets each field through object.__setattr__
class _ItemFacts:
    """What the catalogue takes from one item row (never changed once made)."""

    item_id: str
    available: bool
    price: float  # NaN when unknown
    brand: str | None
    category: str | None
    features: tuple[str, ...]  # sorted
    created_at_us: int
    title: str | None
    embedding: Any  # a sequence of numbers, or None


def _facts(row: Mapping[str, Any]) -> _ItemFacts:
    category = _brand_or_tag(row, "category", CATEGORY_PREFIX)
    names = {str(tag) for tag in row.get("tags") or ()}
    if category:
        names.add(CATEGORY_PREFIX + category)
    names.update(CATEGORY_PREFIX + str(level) for level in row.get("category_path") or ())
    return _ItemFacts(
        item_id=row["item_id"],
        available=bool(row.get("available", True)),
        price=np.nan if row.get("price") is None else float(row["price"]),
        brand=_brand_or_tag(row, "brand", BRAND_PREFIX),
        category=category,
        features=tuple(sorted(names)),
        created_at_us=int(row.get("created_at_us") or 0),
        title=row.get("title"),
        embedding=row.get("embedding") or None,
    )


# What the catalogue reads from an item row (a refresh asks the store for these alone).
ITEM_FIELDS = (
    "item_id",
    "available",
    "price",
    "brand",
    "category",
    "category_path",
    "tags",
    "embedding",
    "created_at_us",
    "title",
)


class CatalogBuilder:
    """A namespace's catalogue kept up to date from its item rows. It keeps what it took from
    each row (not the rows), so a refresh passes only the rows written since (`update`); when
    those change only scalar attributes of items already there (price, availability, title,
    creation time; the common upsert), the previous catalogue's arrays are copied and patched
    instead of assembled again from every item."""

    def __init__(self) -> None:
        self._facts: dict[str, _ItemFacts] = {}
        self._catalog: Catalog | None = None

    def build(self, rows: Iterable[Mapping[str, Any]]) -> Catalog:
        """The catalogue of exactly these rows (what was held before is dropped)."""
        self._facts = {row["item_id"]: _facts(row) for row in rows}
        return self._assemble()

    def size_with(self, changed: Iterable[Mapping[str, Any]]) -> int:
        """How many items `update(changed)` would leave (fewer than the store holds means items
        were deleted, which leaves no row to read: then `build` from every row)."""
        return len(self._facts) + len({row["item_id"] for row in changed} - self._facts.keys())

    def update(self, changed: Iterable[Mapping[str, Any]]) -> Catalog:
        """The held catalogue with `changed` rows added or replacing theirs."""
        # One per item (the last row wins, as it would in the store).
        fresh = list({facts.item_id: facts for facts in map(_facts, changed)}.values())
        previous = self._catalog
        patchable = previous is not None and all(
            _same_shape(self._facts.get(facts.item_id), facts) for facts in fresh
        )
        self._facts.update((facts.item_id, facts) for facts in fresh)
        if not patchable or previous is None:
            return self._assemble()
        if not fresh:
            return previous
        at = np.fromiter(
            (previous.index[f.item_id] for f in fresh), dtype=np.int64, count=len(fresh)
        )
        available, price, created = (
            previous.available.copy(),
            previous.price.copy(),
            previous.created_at_us.copy(),
        )
        available[at] = [f.available for f in fresh]
        price[at] = [f.price for f in fresh]
        created[at] = [f.created_at_us for f in fresh]
        titles = list(previous.titles)
        for position, f in zip(at.tolist(), fresh, strict=True):
            titles[position] = f.title
        self._catalog = replace(
            previous,
            available=available,
            price=price,
            created_at_us=created,
            titles=tuple(titles),
        )
        return self._catalog

    def _assemble(self) -> Catalog:
        self._catalog = _assemble(sorted(self._facts.values(), key=_by_id))
        return self._catalog


def _same_shape(held: _ItemFacts | None, new: _ItemFacts) -> bool:
    """The item is held and keeps its brand, category, features and embedding: a change of
    scalar attributes only, which leaves every index and code table as it is."""
    return (
        held is not None
        and held.brand == new.brand
        and held.category == new.category
        and held.features == new.features
        and _same_embedding(held.embedding, new.embedding)
    )


def _same_embedding(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _by_id(facts: _ItemFacts) -> str:
    return facts.item_id


def build_catalog(rows: Iterable[Mapping[str, Any]]) -> Catalog:
    """Build from item rows (store rows or API dicts: item_id, available, price, brand, category,
    category_path, tags, embedding, created_at_us)."""
    return _assemble(sorted((_facts(row) for row in rows), key=_by_id))


def _assemble(ordered: list[_ItemFacts]) -> Catalog:
    item_ids = np.asarray([f.item_id for f in ordered], dtype=object)
    n = len(ordered)
    brand, brand_names = _codes([f.brand for f in ordered])
    category, category_names = _codes([f.category for f in ordered])

    # Features numbered alphabetically, so the catalogue is identical whatever the input order;
    # each item's names are sorted, so its columns come out ascending.
    feature_names = tuple(sorted({name for f in ordered for name in f.features}))
    feature_index = {name: i for i, name in enumerate(feature_names)}
    counts = np.fromiter((len(f.features) for f in ordered), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.fromiter(
        (feature_index[name] for f in ordered for name in f.features),
        dtype=np.int64,
        count=int(indptr[-1]),
    )
    features = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr),
        shape=(n, len(feature_names)),
    )

    dims = {len(f.embedding) for f in ordered if f.embedding is not None}
    embeddings = None
    if len(dims) == 1:
        (dim,) = dims
        embeddings = np.zeros((n, dim), dtype=np.float32)
        for i, f in enumerate(ordered):
            if f.embedding is not None:
                embeddings[i] = np.asarray(f.embedding, dtype=np.float32)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        np.divide(embeddings, norms, out=embeddings, where=norms > 0)

    return Catalog(
        item_ids=item_ids,
        index={item_id: i for i, item_id in enumerate(item_ids)},
        available=np.fromiter((f.available for f in ordered), dtype=bool, count=n),
        price=np.fromiter((f.price for f in ordered), dtype=np.float64, count=n),
        brand=brand,
        brand_names=brand_names,
        category=category,
        category_names=category_names,
        created_at_us=np.fromiter((f.created_at_us for f in ordered), dtype=np.int64, count=n),
        features=features,
        feature_names=feature_names,
        feature_index=feature_index,
        tag_mask=np.asarray([not f.startswith(CATEGORY_PREFIX) for f in feature_names], dtype=bool),
        embeddings=embeddings,
        titles=tuple(f.title for f in ordered),
    )


__all__ = ["CATEGORY_PREFIX", "ITEM_FIELDS", "Catalog", "CatalogBuilder", "build_catalog"]

"""A catalogue kept up to date from the rows written since equals one built from scratch."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.data.catalog import ITEM_FIELDS, Catalog, CatalogBuilder, build_catalog


def _row(n: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "item_id": f"i{n:03d}",
        "available": n % 7 != 0,
        "price": None if n % 5 == 0 else 10.0 + n,
        "brand": None if n % 4 == 0 else f"b{n % 3}",
        "category": None if n % 6 == 0 else f"c{n % 4}",
        "category_path": ["root", f"c{n % 4}"] if n % 2 else [],
        "tags": [f"t{n % 5}", "brand:legacy"] if n % 4 == 0 else [f"t{n % 5}", f"t{n % 3}"],
        "embedding": [float(n % 3), 1.0, 0.5] if n % 3 else None,
        "created_at_us": 1_000 * n,
        "title": f"Item {n}",
    }
    row.update(changes)
    return row


def _assert_same(got: Catalog, expected: Catalog) -> None:
    assert list(got.item_ids) == list(expected.item_ids)
    assert dict(got.index) == dict(expected.index)
    for name in ("available", "price", "brand", "category", "created_at_us", "tag_mask"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    assert got.brand_names == expected.brand_names
    assert got.category_names == expected.category_names
    assert got.feature_names == expected.feature_names
    assert dict(got.feature_index) == dict(expected.feature_index)
    assert (got.features != expected.features).nnz == 0
    assert got.features.shape == expected.features.shape
    assert got.titles == expected.titles
    assert (got.embeddings is None) == (expected.embeddings is None)
    if got.embeddings is not None:
        np.testing.assert_array_equal(got.embeddings, expected.embeddings)


def test_updates_equal_a_catalogue_built_from_scratch() -> None:
    rows = {r["item_id"]: r for r in (_row(n) for n in range(40))}
    builder = CatalogBuilder()
    _assert_same(builder.build(rows.values()), build_catalog(list(rows.values())))

    def update(*changed: dict[str, Any]) -> Catalog:
        rows.update((row["item_id"], row) for row in changed)
        got = builder.update(changed)
        _assert_same(got, build_catalog(list(rows.values())))
        return got

    # Scalar attributes only (patched in place of a full assembly).
    before = builder.update([])
    after = update(_row(5, price=99.5, available=True), _row(7, title="Renamed", created_at_us=3))
    assert after.features is before.features and after.brand is before.brand
    assert not before.available[before.index["i007"]]  # the previous catalogue is untouched
    # Codes or features change: assembled again.
    update(_row(3, tags=["fresh"], category="new-category", price=1.5))
    update(_row(13, tags=["t0", "solo"]))  # tags alone
    update(_row(11, brand="another"), _row(12, embedding=[9.0, 0.0, 1.0]))
    update(_row(20, embedding=None, available=False))
    update(_row(100, brand="newcomer"))  # added
    update(_row(8, price=None), _row(8, price=3.0))  # twice in one batch: the last row wins
    assert builder.size_with([_row(100), _row(101)]) == len(rows) + 1


def test_build_starts_over() -> None:
    """A deletion leaves no row to read: the caller builds from every row again."""
    builder = CatalogBuilder()
    builder.build([_row(n) for n in range(6)])
    rows = [_row(n) for n in range(6) if n != 2]
    _assert_same(builder.build(rows), build_catalog(rows))
    assert builder.size_with([_row(2)]) == 6


class _FieldsOnly(dict):  # type: ignore[type-arg]
    """A row that fails on any field a refresh does not ask the store for."""

    def __getitem__(self, key: str) -> Any:
        assert key in ITEM_FIELDS, key
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        assert key in ITEM_FIELDS, key
        return super().get(key, default)


def test_the_fields_a_refresh_reads_are_all_the_catalogue_needs() -> None:
    """A refresh asks the store for ITEM_FIELDS only (not props, description, ...): the
    catalogue must read nothing else from a row."""
    rows = [_FieldsOnly(_row(n)) for n in range(30)]
    _assert_same(CatalogBuilder().build(rows), build_catalog([dict(r) for r in rows]))

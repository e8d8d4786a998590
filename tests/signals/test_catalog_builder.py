"""A catalogue rebuilt from kept rows after a few edits equals one built from scratch."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.data.catalog import Catalog, CatalogBuilder, build_catalog


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


def test_kept_rows_edited_added_and_deleted() -> None:
    rows = {r["item_id"]: r for r in (_row(n) for n in range(40))}
    builder = CatalogBuilder()
    _assert_same(builder.build(rows.values()), build_catalog(list(rows.values())))

    rows["i003"] = _row(3, tags=["fresh"], category="new-category", price=1.5)  # edited
    rows["i100"] = _row(100, brand="newcomer")  # added
    del rows["i010"]  # deleted
    rows["i020"] = _row(20, embedding=None, available=False)
    _assert_same(builder.build(rows.values()), build_catalog(list(rows.values())))


def test_a_row_edited_in_a_new_object_is_read_again() -> None:
    rows = [_row(n) for n in range(5)]
    builder = CatalogBuilder()
    builder.build(rows)
    rows[2] = _row(2, brand="another")
    assert builder.build(rows).brand_names == build_catalog(rows).brand_names
    assert "another" in builder.build(rows).brand_names

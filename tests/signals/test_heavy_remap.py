"""Heavy signals carried over to an edited catalogue keep every surviving item's values."""

from __future__ import annotations

import numpy as np

from recsys.data.catalog import build_catalog
from recsys.signals.snapshot import heavy_signals_of, remap_heavy
from tests.ranking.shop import shop_items, shop_snapshot


def test_remapped_signals_match_the_original_by_item_id() -> None:
    snapshot = shop_snapshot()
    heavy = heavy_signals_of(snapshot, built_at=0.0)
    old = snapshot.catalog
    items = [i for i in shop_items() if i["item_id"] != "i03"]  # one item removed
    items.append({"item_id": "a-new", "category": "c0", "created_at_us": 0})  # one added
    new = build_catalog(items)
    moved = remap_heavy(heavy, new)
    assert moved.catalog is new

    def old_i(item_id: str) -> int:
        return int(old.index[item_id])

    def new_i(item_id: str) -> int:
        return int(new.index[item_id])

    kept = [str(i) for i in old.item_ids if i != "i03"]
    rows_old = [old_i(i) for i in kept]
    rows_new = [new_i(i) for i in kept]
    covis_old = heavy.covisitation.toarray()[np.ix_(rows_old, rows_old)]
    covis_new = moved.covisitation.toarray()[np.ix_(rows_new, rows_new)]
    np.testing.assert_array_equal(covis_old, covis_new)
    assert moved.covisitation[new_i("a-new")].nnz == 0
    assert heavy.item_vectors is not None and moved.item_vectors is not None
    np.testing.assert_array_equal(heavy.item_vectors[rows_old], moved.item_vectors[rows_new])
    assert not moved.item_vectors[new_i("a-new")].any()
    history_old = np.asarray([old_i("i20"), old_i("i21")])
    history_new = np.asarray([new_i("i20"), new_i("i21")])
    scores_old = heavy.item_model.scores(history_old, old.size)[rows_old]
    scores_new = moved.item_model.scores(history_new, new.size)[rows_new]
    # i03's own row and column are gone, so scores agree except for its contribution.
    assert np.corrcoef(scores_old, scores_new)[0, 1] > 0.99
    assert moved.item_model.position[new_i("a-new")] == -1
    np.testing.assert_array_equal(
        heavy.user_factors.item_factors[rows_old], moved.user_factors.item_factors[rows_new]
    )
    assert not moved.user_factors.item_factors[new_i("a-new")].any()


def test_an_attribute_edit_or_an_added_item_keeps_the_matrices_themselves() -> None:
    # Mapped from an artifact, they stay shared between workers instead of being copied.
    snapshot = shop_snapshot()
    heavy = heavy_signals_of(snapshot, built_at=0.0)
    repriced = build_catalog([{**i, "price": 1.0} for i in shop_items()])
    edited = remap_heavy(heavy, repriced)
    assert edited.catalog is repriced
    assert edited.covisitation is heavy.covisitation
    assert edited.item_model.weights is heavy.item_model.weights
    assert edited.item_vectors is heavy.item_vectors
    grown = remap_heavy(heavy, build_catalog([*shop_items(), {"item_id": "zz-new"}]))
    assert grown.item_model.weights is heavy.item_model.weights

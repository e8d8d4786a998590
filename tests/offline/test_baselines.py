"""Baselines on small hand-made matrices with known answers, and the list rules they share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.offline.baselines import (
    ALS,
    BASELINE_GRIDS,
    BASELINES,
    EASE,
    Baseline,
    ItemKNN,
    Popularity,
    binarise,
    make_baseline,
    top_k,
)

# Small and fast: ALS with few factors, everything else at its defaults.
FAST: dict[str, dict[str, Any]] = {
    "popularity": {},
    "itemknn": {"neighbours": 5},
    "als": {"factors": 4, "regularization": 0.1, "alpha": 2.0, "iterations": 10},
    "ease": {"l2": 1.0},
}


def csr(rows: list[list[float]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=np.float64))


def two_blocks(users_per_block: int = 10) -> sp.csr_matrix:
    """Block b's users interact with 3 of block b's 5 items (items 5b..5b+4), never outside.

    The triples rotate, so every in-block item is seen by several users and each user has two
    unseen in-block items to be recommended before anything from the other block."""
    dense = np.zeros((2 * users_per_block, 10))
    for block in (0, 1):
        for j in range(users_per_block):
            start = j % 5
            items = [5 * block + (start + d) % 5 for d in range(3)]
            dense[block * users_per_block + j, items] = 1.0
    return sp.csr_matrix(dense)


def random_matrix(seed: int = 3, users: int = 30, items: int = 25) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.2) * rng.integers(1, 5, size=(users, items))
    return sp.csr_matrix(dense.astype(np.float64))


def fitted(name: str, train: sp.csr_matrix, **extra: int) -> Baseline:
    return make_baseline(name, {**FAST[name], **extra}).fit(train)


# --- top_k: the one place list rules live -------------------------------------------------


def test_top_k_orders_by_score_then_lower_index() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert top_k(scores, 3).tolist() == [[1, 2, 4], [0, 1, 2]]
    # The tie at the cut is resolved by index too (argpartition alone would not guarantee it).
    assert top_k(scores, 2).tolist() == [[1, 2], [0, 1]]


def test_top_k_pads_when_fewer_items_are_allowed() -> None:
    scores = np.array([[-np.inf, 5.0, -np.inf, 1.0], [-np.inf] * 4])
    out = top_k(scores, 6)
    assert out.dtype == np.int64
    assert out.tolist() == [[1, 3, -1, -1, -1, -1], [-1] * 6]
    assert top_k(scores, 0).shape == (2, 0)


def test_top_k_rejects_nan_and_negative_k() -> None:
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(ValueError):
        top_k(np.zeros((1, 3)), -1)


def test_top_k_matches_a_full_lexicographic_sort() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(50, 30)).astype(np.float64)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    out = top_k(scores, 7)
    for row, got in zip(scores, out, strict=True):
        allowed = [int(i) for i in np.lexsort((np.arange(30), -row)) if row[i] > -np.inf]
        assert got.tolist() == (allowed + [-1] * 7)[:7]


def test_binarise_counts_presence_once() -> None:
    x = binarise(csr([[5.0, 0.0, -1.0], [0.5, 2.0, 0.0]]))
    assert x.toarray().tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    assert x.nnz == 3


# --- known answers per model ----------------------------------------------------------------


def test_popularity_counts_users_and_breaks_ties_by_index() -> None:
    # Item 3: 3 users. Items 1 and 2: 2 users each (item 2's strength 9 does not count extra).
    train = csr(
        [
            [0, 1, 9, 1, 0],
            [0, 1, 0, 1, 0],
            [0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    model = Popularity().fit(train)
    assert model.recommend(np.array([3]), k=5, exclude=None).tolist() == [[3, 1, 2, 0, 4]]
    assert model.recommend(np.array([0, 3]), k=3, exclude=train).tolist() == [
        [0, 4, -1],
        [3, 1, 2],
    ]


def test_itemknn_recommends_the_co_occurring_item() -> None:
    # Items 0 and 1 always go together; item 2 goes with item 3. User 3 has only item 0.
    train = csr(
        [
            [1, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 1],
            [1, 0, 0, 0],
        ]
    )
    model = ItemKNN(neighbours=3).fit(train)
    assert model.recommend(np.array([3]), k=1, exclude=train).tolist() == [[1]]
    sim = model.similarity
    assert sim is not None
    assert sim[0, 1] == pytest.approx(2 / np.sqrt(3 * 2))  # cosine of binary columns
    assert sim.diagonal().tolist() == [0.0] * 4  # an item is not its own neighbour


def test_itemknn_keeps_at_most_neighbours_per_item_and_shrinks() -> None:
    train = random_matrix()
    model = ItemKNN(neighbours=2).fit(train)
    assert model.similarity is not None
    assert np.diff(model.similarity.indptr).max() <= 2
    plain, shrunk = (
        ItemKNN(neighbours=50).fit(train),
        ItemKNN(neighbours=50, shrinkage=5).fit(train),
    )
    assert plain.similarity is not None and shrunk.similarity is not None
    assert (shrunk.similarity.toarray() <= plain.similarity.toarray() + 1e-12).all()
    assert shrunk.similarity.sum() < plain.similarity.sum()


def test_ease_matches_the_closed_form() -> None:
    train = random_matrix()
    l2 = 3.0
    model = EASE(l2=l2).fit(train)
    x = binarise(train).toarray()
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)
    assert model.weights is not None
    np.testing.assert_allclose(model.weights, b, atol=1e-10)
    assert np.diag(model.weights).tolist() == [0.0] * x.shape[1]


@pytest.mark.parametrize("name", ["itemknn", "ease", "als"])
def test_collaborative_models_recommend_within_the_users_block(name: str) -> None:
    train = two_blocks()
    model = fitted(name, train)
    users = np.arange(train.shape[0])
    lists = model.recommend(users, k=2, exclude=train)
    block_of_user = users // 10
    assert (lists // 5 == block_of_user[:, None]).all()
    # Stronger: every unseen in-block item outscores every out-of-block item, for every user.
    scores = model.scores(users)
    seen = train.toarray() > 0
    for u in users:
        in_block = np.zeros(10, dtype=bool)
        in_block[5 * block_of_user[u] : 5 * block_of_user[u] + 5] = True
        assert scores[u, in_block & ~seen[u]].min() > scores[u, ~in_block].max()


# --- rules every model follows --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_exclusions_never_appear_and_rows_are_padded(name: str) -> None:
    train = random_matrix()
    model = fitted(name, train)
    users = np.arange(train.shape[0])
    # Exclude training items plus, for user 0, everything but items 4 and 7.
    exclude = train.tolil()
    exclude[0, :] = 1.0
    exclude[0, [4, 7]] = 0.0
    exclude = sp.csr_matrix(exclude)
    exclude.eliminate_zeros()
    lists = model.recommend(users, k=10, exclude=exclude)
    assert lists.shape == (len(users), 10) and lists.dtype == np.int64
    assert sorted(lists[0, :2].tolist()) == [4, 7] and lists[0, 2:].tolist() == [-1] * 8
    dense_exclude = exclude.toarray() > 0
    for u, row in zip(users, lists, strict=True):
        shown = row[row >= 0]
        assert not dense_exclude[u, shown].any()
        assert len(set(shown.tolist())) == len(shown)
    # Without exclusions everything is allowed: k beyond the catalogue pads with -1.
    wide = model.recommend(users[:3], k=30, exclude=None)
    assert (wide[:, 25:] == -1).all() and (wide[:, :25] >= 0).all()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_two_fits_give_identical_lists(name: str) -> None:
    train = random_matrix(seed=5)
    users = np.arange(train.shape[0])
    first = fitted(name, train).recommend(users, k=8, exclude=train)
    second = fitted(name, train).recommend(users, k=8, exclude=train)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_batching_does_not_change_the_lists(name: str) -> None:
    train = random_matrix(seed=7)
    model = fitted(name, train, batch_size=1)
    users = np.array([5, 0, 29, 5, 12, 3, 17])  # any order, repeats allowed
    one_by_one = model.recommend(users, k=6, exclude=train)
    model.batch_size = 3
    in_threes = model.recommend(users, k=6, exclude=train)
    model.batch_size = 1000
    at_once = model.recommend(users, k=6, exclude=train)
    np.testing.assert_array_equal(one_by_one, at_once)
    np.testing.assert_array_equal(in_threes, at_once)
    np.testing.assert_array_equal(one_by_one[0], one_by_one[3])


def test_misuse_is_reported() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        Popularity().recommend(np.array([0]), k=1, exclude=None)
    model = Popularity().fit(random_matrix())
    with pytest.raises(ValueError, match="exclude"):
        model.recommend(np.array([0]), k=1, exclude=sp.csr_matrix((30, 3)))
    with pytest.raises(IndexError):
        model.recommend(np.array([30]), k=1, exclude=None)
    with pytest.raises(ValueError):
        ItemKNN(neighbours=0)
    with pytest.raises(ValueError):
        Popularity(batch_size=0)


def test_ease_refuses_catalogues_beyond_max_items() -> None:
    train = sp.csr_matrix((3, 11))
    with pytest.raises(ValueError, match="max_items=10"):
        EASE(max_items=10).fit(train)
    EASE(max_items=11).fit(train)  # at the bound is fine


def test_als_passes_confidence_one_plus_alpha_to_implicit() -> None:
    # With alpha = 0 every observed pair has confidence 1, like the unobserved ones; with a
    # large alpha observed pairs dominate: their reconstructed scores move towards 1.
    train = two_blocks()
    seen = train.toarray() > 0
    flat = ALS(factors=4, regularization=0.1, alpha=0.0, iterations=10).fit(train)
    steep = ALS(factors=4, regularization=0.1, alpha=40.0, iterations=10).fit(train)
    users = np.arange(train.shape[0])
    assert steep.scores(users)[seen].mean() > flat.scores(users)[seen].mean()
    assert steep.user_factors is not None and steep.user_factors.shape == (20, 4)
    assert steep.item_factors is not None and steep.item_factors.shape == (10, 4)


# --- factory and grids ----------------------------------------------------------------------


def test_factory_names_and_errors() -> None:
    assert sorted(BASELINES) == ["als", "ease", "itemknn", "popularity"]
    assert isinstance(make_baseline("popularity", {}), Popularity)
    assert isinstance(make_baseline("ItemKNN", {"neighbours": 7}), ItemKNN)
    assert isinstance(make_baseline("als", {"factors": 8}), ALS)
    assert isinstance(make_baseline("ease", {"l2": 10.0}), EASE)
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("bpr", {})
    with pytest.raises(ValueError, match="bad parameters"):
        make_baseline("ease", {"lambda": 3})


def test_every_grid_config_constructs() -> None:
    assert set(BASELINE_GRIDS) == set(BASELINES)
    assert len(BASELINE_GRIDS["als"]) <= 27  # each is a fit: the grid bounds the run time
    for name, grid in BASELINE_GRIDS.items():
        assert grid, name
        for params in grid:
            model = make_baseline(name, params)
            assert isinstance(model, BASELINES[name])
            for key, value in params.items():
                assert getattr(model, key) == value

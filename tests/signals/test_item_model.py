"""The item-to-item model is the ridge regression it claims to be, on the items it claims to
cover."""

from __future__ import annotations

import numpy as np

from recsys.signals.item_model import fit_item_model


def interactions(seed: int = 3, users: int = 40, items: int = 12) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    dense = rng.random((users, items)) < 0.3
    user, item = np.nonzero(dense)
    return user, item, np.ones(len(user)), dense.astype(float)


def test_each_column_is_the_ridge_regression_on_the_other_items() -> None:
    user, item, strength, x = interactions()
    l2 = 5.0
    model = fit_item_model(
        user=user, item=item, strength=strength, n_users=40, n_items=12, l2=l2, max_items=100
    )
    assert np.array_equal(model.head, np.arange(12))
    for j in range(12):
        others = [i for i in range(12) if i != j]
        a = x[:, others]
        expected = np.linalg.solve(a.T @ a + l2 * np.eye(11), a.T @ x[:, j])
        np.testing.assert_allclose(model.weights[others, j], expected, rtol=1e-4, atol=1e-6)
        assert model.weights[j, j] == 0.0


def test_heavy_regularisation_tends_to_co_occurrence_counts() -> None:
    user, item, strength, x = interactions()
    model = fit_item_model(
        user=user, item=item, strength=strength, n_users=40, n_items=12, l2=1e7, max_items=100
    )
    gram = x.T @ x
    np.fill_diagonal(gram, 0.0)
    off = ~np.eye(12, dtype=bool)
    correlation = np.corrcoef(model.weights[off], gram[off])[0, 1]
    assert correlation > 0.999


def test_repeats_count_once_and_zero_strength_is_ignored() -> None:
    user, item, strength, x = interactions()
    absent_user, absent_item = (int(v[0]) for v in np.nonzero(x == 0))
    once = fit_item_model(
        user=user, item=item, strength=strength, n_users=40, n_items=12, l2=5.0, max_items=100
    )
    doubled = fit_item_model(
        user=np.concatenate([user, user, [absent_user]]),
        item=np.concatenate([item, item, [absent_item]]),
        strength=np.concatenate([strength, 3 * strength, [0.0]]),
        n_users=40,
        n_items=12,
        l2=5.0,
        max_items=100,
    )
    np.testing.assert_array_equal(once.weights, doubled.weights)


def test_big_catalogues_model_the_most_interacted_items_only() -> None:
    # Item 0: 5 users, items 1-2: 4 users, item 3: 2 users, item 4: 1 user.
    pairs = [(u, 0) for u in range(5)] + [(u, 1) for u in range(4)] + [(u, 2) for u in range(4)]
    pairs += [(0, 3), (1, 3), (2, 4)]
    user, item = (np.asarray(column) for column in zip(*pairs, strict=True))
    model = fit_item_model(
        user=user,
        item=item,
        strength=np.ones(len(user)),
        n_users=5,
        n_items=6,
        l2=1.0,
        max_items=3,
    )
    assert model.head.tolist() == [0, 1, 2]
    assert model.position.tolist() == [0, 1, 2, -1, -1, -1]
    scores = model.scores(np.asarray([3, 4, 0]), 6)
    assert scores[3:].tolist() == [0.0, 0.0, 0.0]  # outside the head: no evidence
    assert scores[1] > 0 and scores[2] > 0


def test_no_data_gives_an_empty_model_that_scores_zero() -> None:
    empty = np.empty(0, np.int64)
    model = fit_item_model(
        user=empty, item=empty, strength=np.empty(0), n_users=0, n_items=4, l2=1.0, max_items=10
    )
    assert model.is_empty
    assert model.scores(np.asarray([1, 2]), 4).tolist() == [0.0] * 4

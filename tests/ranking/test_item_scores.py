"""ItemScores and the sparse row helpers give what the catalogue-length computation gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.ranking.candidates import top_indices
from recsys.ranking.item_scores import ItemScores
from recsys.ranking.sparse_rows import row_entries, rows_dot


def random_csr(rng: np.random.Generator, n: int = 60, density: float = 0.1) -> sp.csr_matrix:
    matrix = sp.random(n, n, density=density, random_state=rng, format="csr")
    matrix.data = np.round(matrix.data * 4) / 4  # coarse values: many ties
    matrix.eliminate_zeros()
    return matrix


@pytest.mark.parametrize("seed", range(5))
def test_weighted_rows_equal_the_dense_product(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = random_csr(rng)
    rows = rng.choice(60, size=7, replace=False)
    weights = rng.random(7)
    scores = ItemScores.weighted_rows(matrix, rows, weights)
    dense = np.asarray(weights @ matrix[rows]).ravel()
    np.testing.assert_allclose(scores.dense(60), dense)
    assert (np.diff(scores.items) > 0).all()
    for count in (1, 5, 20, 100):
        assert sorted(scores.top(count)) == sorted(top_indices(dense, count))


def test_at_reads_listed_items_and_zero_elsewhere() -> None:
    scores = ItemScores.summed(np.asarray([7, 2, 7, 9]), np.asarray([1.0, 0.5, 2.0, -1.0]))
    assert scores.items.tolist() == [2, 7, 9]
    assert scores.at(np.asarray([9, 0, 7, 2, 100])).tolist() == [-1.0, 0.0, 3.0, 0.5, 0.0]
    assert ItemScores.empty().at(np.asarray([1, 2])).tolist() == [0.0, 0.0]
    assert not ItemScores.empty().any()
    assert sorted(scores.top(5).tolist()) == [2, 7]  # only positive scores are proposed


@pytest.mark.parametrize("seed", range(5))
def test_rows_dot_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = random_csr(rng, density=0.2)
    rows = rng.integers(0, 60, size=25)  # repeats allowed, any order
    vector = rng.random(60)
    np.testing.assert_allclose(rows_dot(matrix, rows, vector), matrix[rows] @ vector)


def test_row_entries_name_every_stored_entry_of_each_row() -> None:
    matrix = sp.csr_matrix(np.asarray([[0, 1, 2], [0, 0, 0], [3, 0, 4]], dtype=float))
    owner, positions = row_entries(matrix, np.asarray([2, 1, 0]))
    assert owner.tolist() == [0, 0, 2, 2]
    assert matrix.data[positions].tolist() == [3.0, 4.0, 1.0, 2.0]
    assert matrix.indices[positions].tolist() == [0, 2, 1, 2]

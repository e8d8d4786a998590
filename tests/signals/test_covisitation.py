"""Co-visitation against a plain reference: which pairs count, their weights, and which
neighbours each item keeps."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.signals import covisitation
from recsys.signals.covisitation import _top_per_row, covisitation_matrix
from recsys.signals.popularity import DAY_US


def _reference(user, item, strength, ts_us, n_items, window_days, max_lag):  # type: ignore[no-untyped-def]
    """Pairs user by user in (time, arrival) order, one event at a time."""
    events = defaultdict(list)
    for n in np.lexsort((np.arange(len(user)), ts_us, user)):
        events[int(user[n])].append(n)
    weights: dict[tuple[int, int], float] = defaultdict(float)
    for sequence in events.values():
        for x, a in enumerate(sequence):
            for lag in range(1, max_lag + 1):
                if x + lag >= len(sequence):
                    break
                b = sequence[x + lag]
                if item[a] == item[b] or ts_us[b] - ts_us[a] > window_days * DAY_US:
                    continue
                if strength[a] <= 0 or strength[b] <= 0:
                    continue
                w = np.sqrt(strength[a] * strength[b]) / lag
                weights[int(item[a]), int(item[b])] += w
                weights[int(item[b]), int(item[a])] += w
    occurrence = np.bincount(item, weights=strength, minlength=n_items)
    dense = np.zeros((n_items, n_items))
    for (i, j), w in weights.items():
        dense[i, j] = w / np.sqrt(occurrence[i] * occurrence[j])
    return dense


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weights_equal_the_reference_when_nothing_is_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_events, n_items = 600, 25
    user = rng.integers(0, 40, n_events)
    item = rng.integers(0, n_items, n_events)
    strength = rng.choice([0.0, 0.5, 1.0, 3.0], n_events)
    ts_us = rng.integers(0, 20 * DAY_US, n_events)
    order = np.lexsort((np.arange(n_events), ts_us, user))
    got = covisitation_matrix(
        user=user, item=item, strength=strength, ts_us=ts_us, order=order,
        n_items=n_items, window_days=5.0, max_lag=3, max_neighbors=n_items,
    )  # fmt: skip
    expected = _reference(user, item, strength, ts_us, n_items, 5.0, 3)
    assert got.nnz == np.count_nonzero(expected)
    np.testing.assert_allclose(got.toarray(), expected, rtol=1e-6)


def _brute_top(matrix: sp.csr_matrix, keep: int) -> set[tuple[int, int]]:
    kept = set()
    for row in range(matrix.shape[0]):
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        entries = sorted(zip(-matrix.data[start:stop], matrix.indices[start:stop], strict=True))
        kept |= {(row, int(col)) for _, col in entries[:keep]}
    return kept


@pytest.mark.parametrize("spread", [1e-12, 0.25])
def test_each_row_keeps_its_largest_entries_ties_by_column(spread: float) -> None:
    """Spread 1e-12: weights distinct in float64 that round to the same float32 (the coarse
    pass must not decide among them); 0.25: many exact ties (the lower column wins)."""
    for trial in range(10):
        matrix = sp.random(120, 120, density=0.4, random_state=trial, format="csr")
        matrix.data = 1.0 + np.round(matrix.data * 8) * spread
        matrix.sum_duplicates()
        rows = np.repeat(np.arange(120, dtype=np.int32), np.diff(matrix.indptr))
        got = _top_per_row(rows, matrix.indices, matrix.data, 120, 9)
        assert set(zip(*got.nonzero(), strict=True)) == _brute_top(matrix, 9)
        assert np.all(got.data == matrix[got.nonzero()].A1.astype(np.float32))


def test_row_blocks_give_the_matrix_of_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Normalising and cutting a few rows at a time (to bound the build's temporaries) gives
    exactly the matrix made from all rows at once, blocks of a single row included."""
    rng = np.random.default_rng(7)
    n_events, n_items = 5000, 60
    user = rng.integers(0, 80, n_events)
    item = rng.integers(0, n_items, n_events)
    strength = rng.choice([0.5, 1.0, 3.0], n_events)
    ts_us = rng.integers(0, 20 * DAY_US, n_events)
    order = np.lexsort((np.arange(n_events), ts_us, user))
    kwargs = dict(
        user=user, item=item, strength=strength, ts_us=ts_us, order=order,
        n_items=n_items, window_days=5.0, max_lag=3, max_neighbors=7,
    )  # fmt: skip
    whole = covisitation_matrix(**kwargs)  # type: ignore[arg-type]
    assert whole.nnz > 6 * n_items
    for block in (1, 13, 200):
        monkeypatch.setattr(covisitation, "BLOCK_ENTRIES", block)
        got = covisitation_matrix(**kwargs)  # type: ignore[arg-type]
        assert np.array_equal(got.indptr, whole.indptr)
        assert np.array_equal(got.indices, whole.indices)
        assert np.array_equal(got.data, whole.data)

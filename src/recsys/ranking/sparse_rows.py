"""Reading a few rows of a CSR matrix with plain array gathers.

scipy's fancy row indexing validates and allocates a new matrix on every call, which costs more
than the arithmetic for the handful of rows a request reads; these helpers touch only the
stored entries of the chosen rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def row_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every stored entry of `rows` (in that order): which of `rows` it belongs to (its
    position in `rows`) and where it sits in `matrix.indices` / `matrix.data`."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    # An entry's position: its rank among all gathered entries, shifted by where its row starts
    # in the matrix minus where it starts among the gathered ones.
    shift = starts - (np.cumsum(lengths) - lengths)
    return owner, np.arange(len(owner)) + shift[owner]


def rows_dot(matrix: sp.csr_matrix, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """`matrix[rows] @ vector` as a dense float64 array, one value per row."""
    owner, positions = row_entries(matrix, rows)
    products = matrix.data[positions] * vector[matrix.indices[positions]]
    return np.bincount(owner, weights=products, minlength=len(rows)).astype(np.float64)


__all__ = ["row_entries", "rows_dot"]

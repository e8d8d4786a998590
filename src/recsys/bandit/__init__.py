"""Multi-armed bandits over ranking policies: pure algorithms, context buckets, holdout groups.

Nothing here touches the store, the clock or a global random generator: the service and the
offline simulation pass statistics and a seeded `numpy.random.Generator` in. This module itself
imports nothing heavy, so `Settings` can name the algorithms without loading numpy.
"""

from __future__ import annotations

from typing import Literal

Algorithm = Literal["thompson", "ucb1"]
ALGORITHMS: tuple[Algorithm, ...] = ("thompson", "ucb1")
DEFAULT_ALGORITHM: Algorithm = "thompson"

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "Algorithm"]

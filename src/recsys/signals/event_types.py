"""Event types: a weight, an optional half-life and an active flag per type code (0-4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TYPE_NAMES = ("view", "click", "add", "purchase", "custom")
DEFAULT_WEIGHTS = (0.1, 0.3, 0.7, 1.0, 0.2)


@dataclass(frozen=True)
class EventTypeTable:
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    # None: decay with POPULARITY_HALFLIFE_DAYS; a number: this type decays at its own pace.
    halflife_days: tuple[float | None, ...] = (None, None, None, None, None)
    active: tuple[bool, ...] = (True, True, True, True, True)

    def weight_array(self) -> np.ndarray:
        """Per type code: weight, or 0 for inactive types."""
        return np.asarray(
            [w if a else 0.0 for w, a in zip(self.weights, self.active, strict=True)],
            dtype=np.float32,
        )

    def halflife_array(self, default_days: float) -> np.ndarray:
        return np.asarray(
            [default_days if h is None else h for h in self.halflife_days], dtype=np.float64
        )


def event_strength(types: np.ndarray, values: np.ndarray, table: EventTypeTable) -> np.ndarray:
    """type weight x value for every event (0 for inactive types)."""
    return table.weight_array()[types.astype(np.int64)] * values


__all__ = ["DEFAULT_WEIGHTS", "TYPE_NAMES", "EventTypeTable", "event_strength"]

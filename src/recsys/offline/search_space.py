"""The tuning search space, read from the knob catalogue: which knobs are searched, over which
range and on which scale (`Knob.search`), what the tuning tools maximise (`OBJECTIVES`), the
box the optimiser works in (`SearchSpace`) and the explicit value grids of a sweep
(`SweepSpace`). Every tuning tool takes its space from here: `recsys tune`, `recsys optimize`
and the quality benchmark's tuned row."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recsys.config.knobs import KNOBS_BY_KEY, TUNABLE

Array = NDArray[np.float64]
Range = tuple[float, float]

# What a tuning run measures and the tools may maximise, or bound with a guardrail floor.
OBJECTIVES = (
    "ndcg_lift",
    "segment_ndcg_lift",
    "mrr_lift",
    "segment_mrr_lift",
    "catalog_coverage",
    "long_tail_share",
)
# Float knob values are snapped to this many decimals (what a person would type).
FLOAT_DECIMALS = 4


def catalogue_ranges(knobs: Sequence[str] | None = None) -> dict[str, Range]:
    """knob key -> its search range from the catalogue, for every tunable knob (or `knobs`)."""
    keys = [knob.key for knob in TUNABLE] if knobs is None else list(knobs)
    ranges = {}
    for key in keys:
        search = KNOBS_BY_KEY[key].search
        if search is None:
            raise ValueError(f"{key} is not tunable")
        ranges[key] = (float(search.low), float(search.high))
    return ranges


def is_integer(knob: str) -> bool:
    return KNOBS_BY_KEY[knob].kind == "int"


def is_log_scale(knob: str) -> bool:
    search = KNOBS_BY_KEY[knob].search
    return search is not None and search.scale == "log"


class SearchSpace:
    """The box of knob ranges scaled to [0, 1] per knob (affinely, or affinely in the logarithm
    for log-scale knobs), and the snapping of values to what the knobs accept (whole numbers
    for integer knobs, `decimals` decimals otherwise)."""

    def __init__(self, ranges: Mapping[str, Range], *, decimals: int = FLOAT_DECIMALS) -> None:
        if not ranges:
            raise ValueError("no knob ranges to search")
        self.names = tuple(ranges)
        self.decimals = decimals
        low, high = [], []
        for name in self.names:
            lo, hi = (float(v) for v in ranges[name])
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                raise ValueError(f"{name}: range needs low < high, got {lo:g} {hi:g}")
            if is_integer(name) and math.ceil(lo) > math.floor(hi):
                raise ValueError(f"{name}: no whole number in [{lo:g}, {hi:g}]")
            if is_log_scale(name) and lo <= 0:
                raise ValueError(f"{name}: a log-scale range needs low > 0, got {lo:g}")
            low.append(lo)
            high.append(hi)
        self.low = np.array(low)
        self.high = np.array(high)
        self.integer = np.array([is_integer(name) for name in self.names])
        self.log = np.array([is_log_scale(name) for name in self.names])

    @property
    def dimensions(self) -> int:
        return len(self.names)

    def _warp(self, values: Array) -> Array:
        return np.where(self.log, np.log(np.where(self.log, values, 1.0)), values)

    def _unwarp(self, warped: Array) -> Array:
        return np.where(self.log, np.exp(warped), warped)

    def locate(self, parameters: Mapping[str, Any]) -> Array | None:
        """Scaled coordinates of a configuration (outside [0, 1] when outside the box), or
        None when a knob is missing or not a finite number (or not positive on a log scale)."""
        values = []
        for name in self.names:
            value = finite_number(parameters.get(name))
            if value is None or (is_log_scale(name) and value <= 0):
                return None
            values.append(value)
        low, high = self._warp(self.low), self._warp(self.high)
        return np.asarray((self._warp(np.array(values)) - low) / (high - low))

    def values(self, unit: Array) -> Array:
        """Snapped knob values of scaled points (rows), inside the box."""
        low, high = self._warp(self.low), self._warp(self.high)
        raw = self._unwarp(low + np.clip(unit, 0.0, 1.0) * (high - low))
        snapped = np.where(self.integer, np.round(raw), np.round(raw, self.decimals))
        lowest = np.where(self.integer, np.ceil(self.low), self.low)
        highest = np.where(self.integer, np.floor(self.high), self.high)
        return np.asarray(np.clip(snapped, lowest, highest), dtype=np.float64)

    def snap(self, unit: Array) -> Array:
        """Scaled points moved to the nearest configuration the knobs accept."""
        low, high = self._warp(self.low), self._warp(self.high)
        return np.asarray((self._warp(self.values(unit)) - low) / (high - low))

    def config(self, unit: Array) -> dict[str, float | int]:
        values = self.values(unit.reshape(1, -1))[0]
        return {
            name: int(v) if is_int else round(float(v), self.decimals)
            for name, v, is_int in zip(self.names, values, self.integer, strict=True)
        }


@dataclass(frozen=True)
class SweepSpace:
    """Explicit candidate values per knob (a sweep's grid)."""

    values: Mapping[str, Sequence[float]]  # knob key -> candidate values

    def configurations(self, *, grid: bool, samples: int, seed: int) -> list[dict[str, Any]]:
        """The full grid, or `samples` distinct grid points drawn with `seed`."""
        keys = sorted(self.values)
        points = [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(self.values[k] for k in keys))
        ]
        if grid or samples >= len(points):
            return points
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(len(points), size=samples, replace=False).tolist())
        return [points[i] for i in chosen]


def finite_number(value: Any) -> float | None:
    """The value as a finite float, or None (booleans, None, text, NaN and infinities)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


__all__ = [
    "FLOAT_DECIMALS",
    "OBJECTIVES",
    "Range",
    "SearchSpace",
    "SweepSpace",
    "catalogue_ranges",
    "finite_number",
    "is_integer",
    "is_log_scale",
]

"""Exclusions (explicit ids, the user's recent excluding events, unavailable items) and the
request's constraints. Each returns a keep-mask over the candidates."""

from __future__ import annotations

import numpy as np

from recsys.data.catalog import CATEGORY_PREFIX, Catalog
from recsys.ranking.request import Constraints


def exclusion_masks(
    catalog: Catalog, items: np.ndarray, *, explicit: np.ndarray, by_events: np.ndarray
) -> dict[str, np.ndarray]:
    """Drop-masks per reason (True = drop)."""
    return {
        "explicit": np.isin(items, explicit),
        "recent_events": np.isin(items, by_events),
        "unavailable": ~catalog.available[items],
    }


def constraint_masks(
    catalog: Catalog, items: np.ndarray, constraints: Constraints
) -> dict[str, np.ndarray]:
    """Drop-masks per constraint (True = drop). Unknown tags/brands/categories match nothing."""
    drops: dict[str, np.ndarray] = {}
    if not constraints.active or len(items) == 0:
        return drops
    rows = catalog.features[items]

    def has_any(names: tuple[str, ...] | list[str]) -> np.ndarray:
        codes = catalog.feature_codes(names)
        if len(codes) == 0:
            return np.zeros(len(items), dtype=bool)
        return np.asarray(rows[:, codes].sum(axis=1)).ravel() > 0

    if constraints.include_tags_any:
        drops["include_tags_any"] = ~has_any(constraints.include_tags_any)
    if constraints.exclude_tags:
        drops["exclude_tags"] = has_any(constraints.exclude_tags)
    if constraints.brands:
        drops["brands"] = ~np.isin(catalog.brand[items], catalog.brand_codes(constraints.brands))
    if constraints.categories:
        # A category matches the item's category or any level of its category_path.
        drops["categories"] = ~has_any([CATEGORY_PREFIX + c for c in constraints.categories])
    if constraints.price_min is not None or constraints.price_max is not None:
        price = catalog.price[items]
        low = -np.inf if constraints.price_min is None else constraints.price_min
        high = np.inf if constraints.price_max is None else constraints.price_max
        # An item without a price cannot be shown to satisfy a price constraint.
        drops["price_between"] = ~((price >= low) & (price <= high))
    if constraints.created_after_us is not None:
        drops["created_after"] = ~(catalog.created_at_us[items] > constraints.created_after_us)
    return drops


__all__ = ["constraint_masks", "exclusion_masks"]

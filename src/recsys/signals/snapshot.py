"""The Snapshot: everything a ranking request reads, immutable once built, swapped atomically.

Derived signals that depend on a knob (popularity half-life, co-visitation window) are computed
for the configured value when the snapshot is built and memoised per value on first use, so a
request override costs one computation, not one per request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.data.catalog import Catalog
from recsys.data.interactions import InteractionLog, UserTable
from recsys.signals import vector_index as vector_index_module
from recsys.signals.covisitation import covisitation_matrix
from recsys.signals.event_types import EventTypeTable, event_strength
from recsys.signals.feature_postings import FeaturePostings, feature_postings
from recsys.signals.item_model import ItemModel, empty_item_model, fit_item_model
from recsys.signals.popularity import descending_order, long_tail_mask, popularity_scores
from recsys.signals.user_factors import UserFactors, empty_user_factors, fit_user_factors
from recsys.signals.vector_index import VectorIndex, build_vector_index
from recsys.signals.vectors import learn_item_vectors


@dataclass(frozen=True)
class SignalParams:
    """Build-time parameters of the signals (the namespace's configured values)."""

    event_types: EventTypeTable = field(default_factory=EventTypeTable)
    popularity_halflife_days: float = 14.0
    covis_window_days: float = 30.0
    covis_max_lag: int = 5
    covis_neighbors: int = 50
    item_model_l2: float = 500.0
    item_model_max_items: int = 3000
    user_factors_dim: int = 16
    user_factors_l2: float = 20.0
    user_factors_alpha: float = 1.0
    vector_dim: int = 32
    seed: int = 0

    @property
    def user_factors_setting(self) -> tuple[int, float, float]:
        """(dim, l2, alpha) of the user factors."""
        return self.user_factors_dim, self.user_factors_l2, self.user_factors_alpha


@dataclass(frozen=True)
class Popularity:
    scores: np.ndarray  # per item
    order: np.ndarray  # item indices, most popular first (ties by item_id)


class Snapshot:
    """Signals of one namespace at one point in time. Safe to share between threads."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        users: UserTable,
        log: InteractionLog,
        params: SignalParams,
        reference_us: int,
        item_vectors: np.ndarray | None,
        vector_source: str | None,
        version: dict[str, Any] | None = None,
        covisitation: sp.csr_matrix | None = None,
        item_model: ItemModel | None = None,
        user_factors: UserFactors | None = None,
        vector_index: VectorIndex | None = None,
        strength: np.ndarray | None = None,
        popularity: tuple[float, np.ndarray] | None = None,
    ) -> None:
        self.catalog = catalog
        self.users = users
        self.log = log
        self.params = params
        self.reference_us = reference_us
        # Given when it was kept up to date by appending (see assemble.AssemblyCache).
        self.strength = (
            event_strength(log.type, log.value, params.event_types)
            if strength is None
            else strength
        )
        self.item_vectors = item_vectors
        self.vector_source = vector_source
        self.version = version or {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        if covisitation is not None:
            # Reused from an earlier snapshot of the same catalogue (see build_snapshot).
            self._memo[("covisitation", float(params.covis_window_days))] = covisitation
        if item_model is not None:
            self._memo[self._item_model_key(params.item_model_l2, params.item_model_max_items)] = (
                item_model
            )
        if user_factors is not None:
            self._memo[self._user_factors_key(*params.user_factors_setting)] = user_factors
        if vector_index is not None:
            # Built over these very vectors by an earlier snapshot (see build_snapshot).
            self._memo[("vector_index",)] = vector_index
        if popularity is not None:
            # (half-life, scores) kept up to date by appending (see assemble.AssemblyCache).
            halflife, scores = popularity
            self._memo[("popularity", float(halflife))] = Popularity(
                scores=scores, order=descending_order(scores)
            )
        self._lock = threading.Lock()

    @property
    def is_empty(self) -> bool:
        return self.catalog.size == 0

    def _memoised(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = build()
        with self._lock:
            return self._memo.setdefault(key, value)

    def signals_built(self) -> frozenset[tuple[Any, ...]]:
        """Which derived signals exist so far, by (name, parameters...): what a request could
        only add to by building one on the request path."""
        with self._lock:
            return frozenset(self._memo)

    def popularity(self, halflife_days: float) -> Popularity:
        def build() -> Popularity:
            halflives = self.params.event_types.halflife_array(halflife_days)
            scores = popularity_scores(
                item=self.log.item,
                strength=self.strength,
                ts_us=self.log.ts_us,
                halflife_days=halflives[self.log.type.astype(np.int64)],
                reference_us=self.reference_us,
                n_items=self.catalog.size,
            )
            return Popularity(scores=scores, order=descending_order(scores))

        result: Popularity = self._memoised(("popularity", float(halflife_days)), build)
        return result

    def covisitation(self, window_days: float) -> sp.csr_matrix:
        def build() -> sp.csr_matrix:
            return covisitation_matrix(
                user=self.log.user,
                item=self.log.item,
                strength=self.strength,
                ts_us=self.log.ts_us,
                order=self.log.grouped_order(),
                n_items=self.catalog.size,
                window_days=window_days,
                max_lag=self.params.covis_max_lag,
                max_neighbors=self.params.covis_neighbors,
            )

        result: sp.csr_matrix = self._memoised(("covisitation", float(window_days)), build)
        return result

    @staticmethod
    def _item_model_key(l2: float, max_items: int) -> tuple[Any, ...]:
        return ("item_model", float(l2), int(max_items))

    def item_model(self, l2: float, max_items: int) -> ItemModel:
        def build() -> ItemModel:
            return fit_item_model(
                user=self.log.user,
                item=self.log.item,
                strength=self.strength,
                n_users=self.users.size,
                n_items=self.catalog.size,
                l2=l2,
                max_items=max_items,
            )

        result: ItemModel = self._memoised(self._item_model_key(l2, max_items), build)
        return result

    @staticmethod
    def _user_factors_key(dim: int, l2: float, alpha: float) -> tuple[Any, ...]:
        return ("user_factors", int(dim), float(l2), float(alpha))

    def user_factors(self, dim: int, l2: float, alpha: float) -> UserFactors:
        """Item factors of implicit-feedback ALS over the log (dim 0: none)."""

        def build() -> UserFactors:
            return fit_user_factors(
                user=self.log.user,
                item=self.log.item,
                n_users=self.users.size,
                n_items=self.catalog.size,
                dim=dim,
                l2=l2,
                alpha=alpha,
                seed=self.params.seed,
            )

        result: UserFactors = self._memoised(self._user_factors_key(dim, l2, alpha), build)
        return result

    def feature_postings(self, halflife_days: float) -> FeaturePostings:
        """Each feature's items, most popular (at this half-life) first."""

        def build() -> FeaturePostings:
            return feature_postings(self.catalog.features, self.popularity(halflife_days).scores)

        result: FeaturePostings = self._memoised(("postings", float(halflife_days)), build)
        return result

    def category_demand(self, halflife_days: float) -> np.ndarray:
        """Popularity summed per category (float64, one per category name)."""

        def build() -> np.ndarray:
            catalog = self.catalog
            has_category = catalog.category >= 0
            return np.bincount(
                catalog.category[has_category],
                weights=self.popularity(halflife_days).scores[has_category],
                minlength=len(catalog.category_names),
            )

        result: np.ndarray = self._memoised(("category_demand", float(halflife_days)), build)
        return result

    def vector_index(self) -> VectorIndex | None:
        """The nearest-item index over the item vectors (None: no vectors, or a catalogue small
        enough to score exactly)."""

        def build() -> VectorIndex | None:
            if self.item_vectors is None:
                return None
            # The threshold is read at build time so a test can lower it for a small shop.
            minimum = vector_index_module.INDEX_MIN_ITEMS
            return build_vector_index(self.item_vectors, seed=self.params.seed, min_items=minimum)

        result: VectorIndex | None = self._memoised(("vector_index",), build)
        return result

    def long_tail(self, halflife_days: float, head_share: float) -> np.ndarray:
        """Bool per item: outside the most popular `head_share` of the catalogue."""

        def build() -> np.ndarray:
            return long_tail_mask(self.popularity(halflife_days).scores, head_share)

        result: np.ndarray = self._memoised(("long_tail", halflife_days, head_share), build)
        return result

    def warm(self) -> Snapshot:
        """Compute the configured signals now (off the request path); returns self."""
        self.popularity(self.params.popularity_halflife_days)
        self.covisitation(self.params.covis_window_days)
        self.item_model(self.params.item_model_l2, self.params.item_model_max_items)
        self.user_factors(*self.params.user_factors_setting)
        self.feature_postings(self.params.popularity_halflife_days)
        self.vector_index()
        return self


@dataclass(frozen=True, eq=False)
class HeavySignals:
    """The expensive signals (co-visitation at the configured window, the item model and the
    user factors at the configured parameters, learned item vectors),
    which a refresh may carry over from the previous snapshot while they are still fresh."""

    catalog: Catalog  # valid only for this very catalogue (same item indices)
    covisitation: sp.csr_matrix
    item_model: ItemModel
    user_factors: UserFactors
    item_vectors: np.ndarray | None
    event_count: int  # size of the log they were computed from
    built_at: float  # monotonic seconds
    # The nearest-item index over `item_vectors` (None: not built, or not worth it).
    vector_index: VectorIndex | None = None
    # Stands in while the real ones are built (`no_heavy`): nothing is added to it.
    placeholder: bool = False


def build_snapshot(
    *,
    catalog: Catalog,
    users: UserTable,
    log: InteractionLog,
    params: SignalParams,
    reference_us: int,
    version: dict[str, Any] | None = None,
    reuse: HeavySignals | None = None,
    strength: np.ndarray | None = None,
    popularity: tuple[float, np.ndarray] | None = None,
) -> Snapshot:
    """Assemble and warm a snapshot. Caller embeddings win over learned vectors. With `reuse`
    (same catalogue), co-visitation and learned vectors are taken from it instead of rebuilt.
    `strength`, `popularity` ((half-life, scores)): when the caller has them."""
    if strength is None:
        strength = event_strength(log.type, log.value, params.event_types)
    usable = reuse if reuse is not None and reuse.catalog is catalog else None
    vectors: np.ndarray | None
    source: str | None
    if catalog.embeddings is not None:
        vectors, source = catalog.embeddings, "caller"
    elif usable is not None:
        vectors = usable.item_vectors
        source = "learned" if vectors is not None else None
    else:
        vectors = learn_item_vectors(
            user=log.user,
            item=log.item,
            strength=strength,
            n_users=users.size,
            n_items=catalog.size,
            dim=params.vector_dim,
            seed=params.seed,
        )
        source = "learned" if vectors is not None else None
    return Snapshot(
        catalog=catalog,
        users=users,
        log=log,
        params=params,
        reference_us=reference_us,
        item_vectors=vectors,
        vector_source=source,
        version=version,
        covisitation=usable.covisitation if usable is not None else None,
        item_model=usable.item_model if usable is not None else None,
        user_factors=usable.user_factors if usable is not None else None,
        vector_index=(
            usable.vector_index if usable is not None and vectors is usable.item_vectors else None
        ),
        strength=strength,
        popularity=popularity,
    ).warm()


def remap_heavy(heavy: HeavySignals, catalog: Catalog) -> HeavySignals:
    """Carry heavy signals over to a changed catalogue by item_id, so a catalogue edit is served
    at once instead of after a full rebuild. Removed items drop out; new items have no heavy
    evidence yet (they have no events either until the log grows, which schedules a rebuild)."""
    old_ids = heavy.catalog.item_ids
    if len(old_ids) == catalog.size and np.array_equal(old_ids, catalog.item_ids):
        # Only attributes changed (a price, availability): every index still holds.
        return replace(heavy, catalog=catalog)
    new_index = np.fromiter(
        (catalog.index.get(str(item_id), -1) for item_id in old_ids),
        dtype=np.int64,
        count=len(old_ids),
    )
    n = catalog.size
    coo = heavy.covisitation.tocoo()
    rows, cols = new_index[coo.row], new_index[coo.col]
    keep = (rows >= 0) & (cols >= 0)
    covisitation = sp.csr_matrix((coo.data[keep], (rows[keep], cols[keep])), shape=(n, n))
    vectors = None
    if heavy.item_vectors is not None:
        vectors = np.zeros((n, heavy.item_vectors.shape[1]), dtype=heavy.item_vectors.dtype)
        moved = new_index >= 0
        vectors[new_index[moved]] = heavy.item_vectors[moved]
    return HeavySignals(
        catalog=catalog,
        covisitation=covisitation,
        item_model=heavy.item_model.remapped(new_index, n),
        user_factors=heavy.user_factors.remapped(new_index, n),
        item_vectors=vectors,
        event_count=heavy.event_count,
        built_at=heavy.built_at,
    )


def no_heavy(catalog: Catalog) -> HeavySignals:
    """Heavy signals without evidence (no co-visitation, an empty item model, no learned
    vectors): what a namespace is ranked with while its first complete build runs."""
    n = catalog.size
    return HeavySignals(
        catalog=catalog,
        covisitation=sp.csr_matrix((n, n), dtype=np.float32),
        item_model=empty_item_model(n),
        user_factors=empty_user_factors(n),
        item_vectors=None,
        event_count=0,
        built_at=0.0,
        placeholder=True,
    )


def heavy_params(params: SignalParams) -> tuple[Any, ...]:
    """The parameters the heavy signals depend on (popularity's half-life is not one)."""
    return (
        params.event_types,
        params.covis_window_days,
        params.covis_max_lag,
        params.covis_neighbors,
        params.item_model_l2,
        params.item_model_max_items,
        params.user_factors_dim,
        params.user_factors_l2,
        params.user_factors_alpha,
        params.vector_dim,
        params.seed,
    )


def heavy_signals_of(snapshot: Snapshot, built_at: float) -> HeavySignals:
    return HeavySignals(
        catalog=snapshot.catalog,
        covisitation=snapshot.covisitation(snapshot.params.covis_window_days),
        item_model=snapshot.item_model(
            snapshot.params.item_model_l2, snapshot.params.item_model_max_items
        ),
        user_factors=snapshot.user_factors(*snapshot.params.user_factors_setting),
        item_vectors=snapshot.item_vectors if snapshot.vector_source == "learned" else None,
        event_count=snapshot.log.size,
        built_at=built_at,
        vector_index=snapshot.vector_index() if snapshot.vector_source == "learned" else None,
    )


__all__ = [
    "HeavySignals",
    "Popularity",
    "SignalParams",
    "Snapshot",
    "build_snapshot",
    "heavy_params",
    "heavy_signals_of",
    "no_heavy",
    "remap_heavy",
]

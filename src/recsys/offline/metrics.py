"""The one metrics module: every offline tool scores rankings here, at the cutoff each metric's
name states (`ndcg@10` looks at ranks 1-10, never more).

Relevance is binary: an item is relevant to a user when the user interacted with it in the
held-out period. Lists are item indices (catalogue order), best first."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recsys.signals.popularity import long_tail_mask

LONG_TAIL_HEAD_SHARE = 0.2  # the most popular 20% of items (by training popularity) are the head


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def per_user_ranking_metrics(
    lists: Sequence[Sequence[int]], relevant: Sequence[set[int]], *, k: int
) -> dict[str, np.ndarray]:
    """ndcg@k, mrr@k, recall@k, precision@k, hit@k for each user (arrays aligned with input)."""
    n = len(lists)
    hits = np.zeros((n, k), dtype=bool)
    n_relevant = np.zeros(n)
    for u, (ranked, rel) in enumerate(zip(lists, relevant, strict=True)):
        top = list(ranked)[:k]
        hits[u, : len(top)] = [item in rel for item in top]
        n_relevant[u] = len(rel)
    discounts = _discounts(k)
    dcg = (hits * discounts).sum(axis=1)
    ideal_counts = np.minimum(n_relevant, k).astype(int)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_counts]
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    found = hits.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            f"ndcg@{k}": np.where(ideal > 0, dcg / ideal, 0.0),
            f"mrr@{k}": np.where(first_hit > 0, 1.0 / np.maximum(first_hit, 1), 0.0),
            f"recall@{k}": np.where(n_relevant > 0, found / n_relevant, 0.0),
            f"precision@{k}": found / k,
            f"hit@{k}": (found > 0).astype(float),
        }


def catalog_coverage(lists: Sequence[Sequence[int]], n_items: int, *, k: int) -> float:
    """Distinct items in anyone's top k, over the catalogue size."""
    if n_items == 0:
        return 0.0
    seen = {item for ranked in lists for item in list(ranked)[:k]}
    return len(seen) / n_items


def exposure_gini(lists: Sequence[Sequence[int]], n_items: int, *, k: int) -> float:
    """Gini coefficient of how often each catalogue item appears in the top-k lists: 0 when
    every item is shown equally often, towards 1 when a few items fill every list."""
    counts = np.zeros(n_items)
    shown = [item for ranked in lists for item in list(ranked)[:k]]
    if n_items == 0 or not shown:
        return 0.0
    np.add.at(counts, shown, 1.0)
    ordered = np.sort(counts)
    ranks = np.arange(1, n_items + 1)
    return float(
        (2.0 * (ranks * ordered).sum()) / (n_items * ordered.sum()) - (n_items + 1) / n_items
    )


def cross_segment_overlap(
    lists: Sequence[Sequence[int]], segments: Sequence[str], *, k: int
) -> float:
    """Mean share of top-k items two users of different segments have in common, over every
    such pair (1: every segment sees the same list; nan: fewer than two segments)."""
    rows = [list(ranked)[:k] for ranked in lists]
    if not rows:
        return float("nan")
    labels = np.asarray(segments, dtype=object)
    items = sorted({item for row in rows for item in row})
    column = {item: n for n, item in enumerate(items)}
    shown = np.zeros((len(rows), len(items)))
    for n, row in enumerate(rows):
        shown[n, [column[item] for item in row]] = 1.0
    common = shown @ shown.T / k
    across = labels[:, None] != labels[None, :]
    return float(common[across].mean()) if across.any() else float("nan")


def long_tail_share(lists: Sequence[Sequence[int]], tail: np.ndarray, *, k: int) -> float:
    """Share of recommended slots (top k) filled by long-tail items."""
    shown = [item for ranked in lists for item in list(ranked)[:k]]
    return float(np.mean(tail[shown])) if shown else 0.0


def intra_list_similarity(
    lists: Sequence[Sequence[int]], vectors: np.ndarray | None, *, k: int
) -> float:
    """Mean pairwise cosine similarity inside each top-k list (lower = more diverse)."""
    if vectors is None:
        return float("nan")
    values = []
    for ranked in lists:
        top = np.asarray(list(ranked)[:k], dtype=np.int64)
        if len(top) < 2:
            continue
        v = vectors[top]
        sim = v @ v.T
        m = len(top)
        values.append((sim.sum() - np.trace(sim)) / (m * (m - 1)))
    return float(np.mean(values)) if values else float("nan")


def novelty(lists: Sequence[Sequence[int]], popularity: np.ndarray, *, k: int) -> float:
    """Mean self-information -log2(p(item)) of recommended items, p from training counts."""
    total = popularity.sum()
    shown = [item for ranked in lists for item in list(ranked)[:k]]
    if not shown or total <= 0:
        return 0.0
    p = np.maximum(popularity[shown] / total, 1e-12)
    return float(np.mean(-np.log2(p)))


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci95_low": self.low, "ci95_high": self.high}


def bootstrap_mean(
    values: np.ndarray, *, seed: int = 42, resamples: int = 2000, level: float = 0.95
) -> Interval:
    """The mean over users with its percentile bootstrap interval (`scipy.stats.bootstrap`,
    users resampled with replacement, seeded)."""
    values = np.asarray(values, dtype=np.float64)
    return _bootstrap((values,), _mean, seed=seed, resamples=resamples, level=level)


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, seed: int = 42, resamples: int = 2000, level: float = 0.95
) -> Interval:
    """mean(a) - mean(b) over the same users (a[i] and b[i] are one user's figures under two
    systems) with its paired percentile bootstrap interval: users are resampled, each keeping
    both of their figures, so what the users share cancels out."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired figures need the same users: {a.shape} vs {b.shape}")
    return _bootstrap((a, b), _mean_difference, seed=seed, resamples=resamples, level=level)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _bootstrap(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    *,
    seed: int,
    resamples: int,
    level: float,
) -> Interval:
    from scipy import stats

    n = len(samples[0])
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    point = float(statistic(*samples))
    if n == 1 or all(np.all(s == s[0]) for s in samples):
        return Interval(point, point, point)  # every resample is the sample itself
    result = stats.bootstrap(
        samples,
        statistic,
        paired=len(samples) > 1,
        vectorized=True,
        n_resamples=resamples,
        batch=max(1, 2_000_000 // n),  # bounded memory: resamples x users at a time
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Interval(point, float(interval.low), float(interval.high))


def summarise(per_user: Mapping[str, np.ndarray], *, seed: int = 42) -> dict[str, dict[str, float]]:
    return {name: bootstrap_mean(values, seed=seed).as_dict() for name, values in per_user.items()}


__all__ = [
    "LONG_TAIL_HEAD_SHARE",
    "Interval",
    "bootstrap_mean",
    "catalog_coverage",
    "cross_segment_overlap",
    "exposure_gini",
    "intra_list_similarity",
    "long_tail_mask",
    "long_tail_share",
    "novelty",
    "paired_difference",
    "per_user_ranking_metrics",
    "summarise",
]

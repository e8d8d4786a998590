"""Honest quality evaluation: rank each held-out user as of the split instant (so no test event
can feed the ranker), score the lists with the one metrics module, compare with a popularity
baseline ranked by the same pipeline, and bootstrap the lifts.

Rankers are interchangeable: `LocalRanker` runs the pipeline in-process on a snapshot built as of
the cut; `recsys.offline.http_ranker.HttpRanker` asks a server with `context.as_of`. Both produce
item-id lists; everything after that is shared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from recsys.clock import from_micros
from recsys.config.knobs import KnobValues, parse_overrides
from recsys.data.catalog import build_catalog
from recsys.offline.dataset import NamespaceData, TemporalSplit
from recsys.offline.metrics import (
    catalog_coverage,
    intra_list_similarity,
    long_tail_share,
    novelty,
    paired_difference,
    per_user_ranking_metrics,
)
from recsys.policy.namespace import NamespacePolicy
from recsys.ranking import build_pipeline
from recsys.ranking.builder import build_request
from recsys.signals.assemble import assemble_snapshot
from recsys.signals.popularity import long_tail_mask
from recsys.signals.snapshot import Snapshot

K_LIST = 20  # lists are fetched once at this length; each metric cuts at its own k
HEADLINE = ("ndcg@10", "mrr@10", "recall@20")

# The baseline: the same pipeline, ranking by popularity alone.
POPULARITY_BASELINE: dict[str, Any] = {
    "blend_alpha": 1.0,
    "blend_beta": 0.0,
    "blend_gamma": 0.0,
    "blend_delta": 0.0,
    "blend_epsilon": 0.0,
    "new_user_blend_alpha": 1.0,
    "new_user_blend_beta": 0.0,
    "new_user_blend_gamma": 0.0,
    "new_user_blend_delta": 0.0,
    "new_user_blend_epsilon": 0.0,
    "profile_boost": 0.0,
    "profile_starter_blend_weight": 0.0,
    "mmr_lambda": 1.0,
    "new_user_mmr_lambda": 1.0,
    "brand_cap": 0,
    "category_cap": 0,
}


def iso(micros: int) -> str:
    """RFC 3339 with microseconds, as the API writes it."""
    return from_micros(micros).isoformat().replace("+00:00", "Z")


class Ranker(Protocol):
    def rank(self, user_id: str, *, k: int, overrides: Mapping[str, Any]) -> list[str]: ...


class LocalRanker:
    """The served pipeline, in-process, on a snapshot of the data as of the split instant."""

    def __init__(
        self,
        data: NamespaceData,
        *,
        cut_us: int,
        policy: NamespacePolicy | None = None,
        base_knobs: KnobValues,
        surface: str | None = None,
    ) -> None:
        self.policy = policy or NamespacePolicy()
        self.base_knobs = base_knobs
        self.cut_us = cut_us
        self.surface = surface
        self.pipeline = build_pipeline()
        self.snapshot: Snapshot = assemble_snapshot(
            catalog=build_catalog(data.items),
            users=data.users,
            events=data.events,
            params=self.policy.signal_params(base_knobs),
            reference_us=cut_us,
            as_of_us=cut_us,
        )

    def rank(
        self,
        user_id: str,
        *,
        k: int,
        overrides: Mapping[str, Any],
        exclude: Sequence[str] = (),
    ) -> list[str]:
        built = build_request(
            self.snapshot,
            self.policy,
            base_knobs=self.base_knobs,
            now_us=self.cut_us,
            k=k,
            user_id=user_id,
            surface=self.surface,
            context={"as_of": iso(self.cut_us)},
            overrides=parse_overrides(overrides),
            exclude_item_ids=exclude,
        )
        return [item.item_id for item in self.pipeline.run(self.snapshot, built.request).items]


@dataclass(frozen=True)
class Reference:
    """What the metrics compare against: training popularity, long tail, vectors."""

    item_index: Mapping[str, int]
    popularity: np.ndarray
    tail: np.ndarray
    vectors: np.ndarray | None
    n_items: int

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, head_share: float = 0.2) -> Reference:
        counts = np.bincount(snapshot.log.item, minlength=snapshot.catalog.size).astype(float)
        return cls(
            item_index=snapshot.catalog.index,
            popularity=counts,
            tail=long_tail_mask(counts, head_share),
            vectors=snapshot.item_vectors,
            n_items=int(snapshot.catalog.available.sum()),
        )


@dataclass
class Evaluation:
    """Per-user metric arrays and list-level metrics, overall and per segment."""

    users: list[str]
    per_user: dict[str, np.ndarray]
    lists: list[list[str]]
    list_metrics: dict[str, float]
    segments: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        out = {name: float(np.mean(v)) if len(v) else 0.0 for name, v in self.per_user.items()}
        return {**out, **self.list_metrics}


def score_lists(
    users: Sequence[str],
    lists: Sequence[Sequence[str]],
    split: TemporalSplit,
    reference: Reference,
    segment_of: Mapping[str, str],
) -> Evaluation:
    index = reference.item_index
    as_indices = [[index[i] for i in ranked if i in index] for ranked in lists]
    relevant = [{index[i] for i in split.relevant[u] if i in index} for u in users]
    per_user: dict[str, np.ndarray] = {}
    for k in (10, 20):
        per_user.update(per_user_ranking_metrics(as_indices, relevant, k=k))
    list_metrics = {
        "catalog_coverage": catalog_coverage(as_indices, reference.n_items, k=10),
        "long_tail_share": long_tail_share(as_indices, reference.tail, k=10),
        "intra_list_similarity": intra_list_similarity(as_indices, reference.vectors, k=10),
        "novelty": novelty(as_indices, reference.popularity, k=10),
    }
    segments: dict[str, dict[str, float]] = {}
    labels = np.asarray([segment_of.get(u, "unknown") for u in users], dtype=object)
    for segment in sorted(set(labels)):
        mask = labels == segment
        chosen = [as_indices[n] for n in np.flatnonzero(mask)]
        segments[segment] = {
            "users": int(mask.sum()),
            **{name: float(np.mean(v[mask])) for name, v in per_user.items()},
            "catalog_coverage": catalog_coverage(chosen, reference.n_items, k=10),
            "long_tail_share": long_tail_share(chosen, reference.tail, k=10),
        }
    return Evaluation(list(users), per_user, [list(x) for x in lists], list_metrics, segments)


def run_lists(
    ranker: Ranker, users: Sequence[str], overrides: Mapping[str, Any], *, k: int = K_LIST
) -> list[list[str]]:
    return [ranker.rank(u, k=k, overrides=overrides) for u in users]


def lift_report(
    candidate: Evaluation, baseline: Evaluation, *, seed: int = 42
) -> dict[str, dict[str, float]]:
    """Per-user paired differences (candidate - baseline), with bootstrap 95% intervals, and the
    relative lift of the means."""
    out: dict[str, dict[str, float]] = {}
    for name in HEADLINE:
        interval = paired_difference(candidate.per_user[name], baseline.per_user[name], seed=seed)
        base = float(np.mean(baseline.per_user[name])) if len(baseline.per_user[name]) else 0.0
        out[name] = {
            "absolute": interval.mean,
            "ci95_low": interval.low,
            "ci95_high": interval.high,
            "relative": interval.mean / base if base > 0 else float("nan"),
        }
    return out


def segment_lifts(candidate: Evaluation, baseline: Evaluation) -> dict[str, dict[str, float]]:
    out = {}
    for segment, values in candidate.segments.items():
        base = baseline.segments.get(segment, {})
        out[segment] = {
            f"lift_{name}": values[name] - base.get(name, 0.0) for name in ("ndcg@10", "mrr@10")
        }
    return out


def evaluate(
    ranker: Ranker,
    split: TemporalSplit,
    reference: Reference,
    segment_of: Mapping[str, str],
    *,
    overrides: Mapping[str, Any],
    baseline: Evaluation | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """One configuration scored against the popularity baseline (computed when not given)."""
    users = list(split.users)
    candidate = score_lists(
        users, run_lists(ranker, users, overrides), split, reference, segment_of
    )
    if baseline is None:
        baseline = score_lists(
            users, run_lists(ranker, users, POPULARITY_BASELINE), split, reference, segment_of
        )
    return {
        "users": len(users),
        "metrics": candidate.summary(),
        "baseline": baseline.summary(),
        "lift": lift_report(candidate, baseline, seed=seed),
        "segments": candidate.segments,
        "segment_lift": segment_lifts(candidate, baseline),
        "_evaluation": candidate,
        "_baseline": baseline,
    }


__all__ = [
    "HEADLINE",
    "K_LIST",
    "POPULARITY_BASELINE",
    "Evaluation",
    "LocalRanker",
    "Ranker",
    "Reference",
    "evaluate",
    "iso",
    "lift_report",
    "run_lists",
    "score_lists",
]

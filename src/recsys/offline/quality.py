"""The quality benchmark: the served pipeline against standard baselines on one dataset, under
one protocol, scored by the one metrics module.

Every row is chosen and scored the same way: hyperparameters (the baselines' and, for
`recsys_tuned`, the pipeline's knobs) are picked on a validation split cut from the *training*
data only, then the chosen configuration is refitted on the whole training set and scored once on
the test set. `recsys_default` is the pipeline with the catalogue's default knobs, untouched."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.config.knobs import KnobValues, defaults
from recsys.offline.dataset import NamespaceData
from recsys.offline.evaluate import K_LIST, LocalRanker, Reference, score_lists
from recsys.offline.metrics import bootstrap_mean, paired_difference
from recsys.offline.optimizer import Observation, propose
from recsys.offline.protocols import Protocol, ProtocolSplit, split_by
from recsys.offline.search_space import Range, catalogue_ranges

K = 10
BASELINES = ("popularity", "itemknn", "als", "ease")
ROW_ORDER = (*BASELINES, "recsys_default", "recsys_tuned")
REPORTED = (
    "ndcg@10",
    "mrr@10",
    "recall@10",
    "recall@20",
    "catalog_coverage",
    "long_tail_share",
    "novelty",
)

# `recsys_tuned` searches the catalogue's whole tuning space (every tunable knob over its search
# range) with the tuning optimiser, `recsys optimize`'s: a seeded space-filling design of
# TUNING_INITIAL configurations, then batches of TUNING_BATCH proposed by the Gaussian process
# fitted on every validation score so far, TUNING_SAMPLES in all. The default configuration is
# always tried first, so tuning can only match or beat it on validation.
TUNING_SAMPLES = 40
TUNING_INITIAL = 16
TUNING_BATCH = 8
# The optimiser maximises a named objective; here it is the validation NDCG@10.
_OBJECTIVE = "ndcg_lift"


@dataclass(frozen=True)
class BenchOptions:
    protocol: Protocol
    dataset: str
    seed: int = 42
    tuning_samples: int = TUNING_SAMPLES
    tuning_space: Mapping[str, Range] = field(default_factory=catalogue_ranges)
    rows: tuple[str, ...] = ROW_ORDER
    max_users: int | None = None  # score a seeded sample of users (smoke runs)


@dataclass
class _Scored:
    lists: list[list[str]]
    metrics: dict[str, float]
    ndcg: np.ndarray


class _Fold:
    """One train/holdout pair with everything rows need: the pipeline's snapshot of the training
    data, the training matrix in the snapshot's indices, and the reference for list metrics."""

    def __init__(
        self, split: ProtocolSplit, base_knobs: KnobValues, max_users: int | None, seed: int
    ):
        self.split = split
        self.ranker = LocalRanker(split.train, cut_us=split.rank_at_us, base_knobs=base_knobs)
        snapshot = self.ranker.snapshot
        self.reference = Reference.from_snapshot(snapshot)
        log = snapshot.log
        self.matrix = sp.csr_matrix(
            (np.ones(log.size), (log.user, log.item)),
            shape=(snapshot.users.size, snapshot.catalog.size),
        )
        self.matrix.sum_duplicates()
        # What no baseline may list: each user's training items, and the items the catalogue
        # marks unavailable (the pipeline never shows those either). Built once per fold, not
        # per grid configuration.
        unavailable = np.flatnonzero(~snapshot.catalog.available)
        blocked = sp.csr_matrix(
            (
                np.ones(len(unavailable) * self.matrix.shape[0]),
                (
                    np.repeat(np.arange(self.matrix.shape[0]), len(unavailable)),
                    np.tile(unavailable, self.matrix.shape[0]),
                ),
            ),
            shape=self.matrix.shape,
        )
        self.exclude = ((self.matrix != 0) + (blocked != 0)).astype(np.float64).tocsr()
        users = list(split.holdout.users)
        if max_users is not None and len(users) > max_users:
            rng = np.random.default_rng(seed)
            users = sorted(rng.choice(users, size=max_users, replace=False).tolist())
        self.users = [u for u in users if u in snapshot.users.index]

    def score(self, lists: list[list[str]]) -> _Scored:
        evaluation = score_lists(self.users, lists, self.split.holdout, self.reference, {})
        summary = evaluation.summary()
        return _Scored(lists, summary, evaluation.per_user["ndcg@10"])

    def pipeline_lists(self, overrides: Mapping[str, Any]) -> list[list[str]]:
        return [
            self.ranker.rank(u, k=K_LIST, overrides=overrides, exclude=self.split.seen[u])
            for u in self.users
        ]

    def baseline_lists(self, name: str, params: Mapping[str, Any]) -> list[list[str]]:
        from recsys.offline.baselines import make_baseline

        snapshot = self.ranker.snapshot
        model = make_baseline(name, params).fit(self.matrix)
        rows = np.asarray([snapshot.users.index[u] for u in self.users], dtype=np.int64)
        top = model.recommend(rows, k=K_LIST, exclude=self.exclude)
        ids = snapshot.catalog.item_ids
        return [[str(ids[i]) for i in row if i >= 0] for row in top]


def _best(
    candidates: Sequence[Mapping[str, Any]], evaluate: Callable[[Mapping[str, Any]], float]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The candidate with the highest validation NDCG@10 (first wins ties: deterministic)."""
    tried = []
    for params in candidates:
        tried.append({"params": dict(params), "validation_ndcg@10": evaluate(params)})
    best = max(range(len(tried)), key=lambda i: (tried[i]["validation_ndcg@10"], -i))
    return dict(candidates[best]), tried


def _baseline_on(fold: _Fold, name: str) -> Callable[[Mapping[str, Any]], float]:
    def evaluate(params: Mapping[str, Any]) -> float:
        return float(fold.score(fold.baseline_lists(name, params)).ndcg.mean())

    return evaluate


def _pipeline_on(fold: _Fold) -> Callable[[Mapping[str, Any]], float]:
    def evaluate(params: Mapping[str, Any]) -> float:
        return float(fold.score(fold.pipeline_lists(params)).ndcg.mean())

    return evaluate


def tuning_candidates(options: BenchOptions) -> list[dict[str, Any]]:
    """The first candidates: the default configuration, then the seeded space-filling design
    (what `recsys optimize` proposes without history)."""
    knobs = defaults()
    default_point = {key: knobs[key] for key in options.tuning_space}
    design = propose(
        [],
        ranges=options.tuning_space,
        objective=_OBJECTIVE,
        constraints={},
        n=min(TUNING_INITIAL, options.tuning_samples),
        seed=options.seed,
    )
    sampled = [dict(s.config) for s in design.suggestions]
    return [default_point, *(p for p in sampled if p != default_point)]


def tune_pipeline(
    options: BenchOptions, evaluate: Callable[[Mapping[str, Any]], float]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Bayesian optimisation of validation NDCG@10 over the search space: the first
    candidates, then batches proposed from every score so far, until `tuning_samples`
    configurations (besides the default) were scored. Returns the best and every try."""
    tried: list[dict[str, Any]] = []
    queue = tuning_candidates(options)
    batch = 0
    while queue:
        for params in queue:
            tried.append({"params": dict(params), "validation_ndcg@10": evaluate(params)})
        remaining = options.tuning_samples + 1 - len(tried)
        if remaining <= 0:
            break
        batch += 1
        history = [Observation(t["params"], {_OBJECTIVE: t["validation_ndcg@10"]}) for t in tried]
        proposal = propose(
            history,
            ranges=options.tuning_space,
            objective=_OBJECTIVE,
            constraints={},
            n=min(TUNING_BATCH, remaining),
            seed=options.seed + batch,
        )
        seen = [t["params"] for t in tried]
        queue = [dict(s.config) for s in proposal.suggestions if dict(s.config) not in seen]
    best = max(range(len(tried)), key=lambda i: (tried[i]["validation_ndcg@10"], -i))
    return dict(tried[best]["params"]), tried


def run_quality_bench(
    data: NamespaceData,
    options: BenchOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every requested row; returns the benchmark's JSON document."""
    from recsys.offline.baselines import BASELINE_GRIDS

    say = progress or (lambda _message: None)
    started = time.perf_counter()
    base_knobs = defaults()
    split = split_by(options.protocol, data, seed=options.seed)
    test = _Fold(split, base_knobs, options.max_users, options.seed)
    # Validation: the same protocol applied to the training data alone.
    validation = _Fold(
        split_by(options.protocol, split.train, seed=options.seed + 1),
        base_knobs,
        options.max_users,
        options.seed,
    )
    say(
        f"{options.protocol}: {len(test.users)} test users, {len(validation.users)} validation "
        f"users, {split.train.events.user.size} training events"
    )
    results: list[dict[str, Any]] = []
    per_user: dict[str, np.ndarray] = {}
    for name in options.rows:
        t0 = time.perf_counter()
        tried: list[dict[str, Any]] = []
        if name in BASELINES:
            grid = BASELINE_GRIDS[name]
            params, tried = _best(grid, _baseline_on(validation, name))
            scored = test.score(test.baseline_lists(name, params))
        elif name == "recsys_default":
            params = {}
            scored = test.score(test.pipeline_lists({}))
        elif name == "recsys_tuned":
            params, tried = tune_pipeline(options, _pipeline_on(validation))
            scored = test.score(test.pipeline_lists(params))
        else:
            raise ValueError(f"unknown row {name!r}: use one of {', '.join(ROW_ORDER)}")
        interval = bootstrap_mean(scored.ndcg, seed=options.seed)
        per_user[name] = scored.ndcg
        row: dict[str, Any] = {
            "name": name,
            **{metric: round(float(scored.metrics[metric]), 4) for metric in REPORTED},
            "ndcg@10_ci95": [round(interval.low, 4), round(interval.high, 4)],
            "params": params,
            "validation": tried,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        results.append(row)
        say(f"{name}: ndcg@10 {row['ndcg@10']:.4f} ({row['seconds']} s)")
    return {
        "dataset": options.dataset,
        "protocol": options.protocol,
        "k": K,
        "seed": options.seed,
        "users": len(test.users),
        "validation_users": len(validation.users),
        "train_events": int(split.train.events.user.size),
        "items": int(test.ranker.snapshot.catalog.size),
        "results": results,
        "paired": paired_comparisons(per_user, seed=options.seed),
        "seconds": round(time.perf_counter() - started, 2),
    }


def paired_comparisons(
    per_user: Mapping[str, np.ndarray], *, seed: int, system: str = "recsys_tuned"
) -> list[dict[str, Any]]:
    """`system` against every other row on the same test users: the difference of mean
    NDCG@10 with its paired bootstrap 95% interval. An interval above 0 says `system` is ahead
    on these users beyond what resampling them explains; one that straddles 0 says the data
    cannot tell them apart."""
    if system not in per_user:
        return []
    out = []
    for other, values in per_user.items():
        if other == system:
            continue
        interval = paired_difference(per_user[system], values, seed=seed)
        out.append(
            {
                "system": system,
                "against": other,
                "metric": "ndcg@10",
                "difference": round(interval.mean, 4),
                "ci95": [round(interval.low, 4), round(interval.high, 4)],
                "users": len(values),
            }
        )
    return out


def markdown_table(document: Mapping[str, Any]) -> str:
    """The benchmark as a Markdown table (what docs/benchmarks.md shows)."""
    header = (
        "| row | NDCG@10 (95% CI) | MRR@10 | Recall@10 | Recall@20 | Coverage | Long tail |\n"
        "|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for row in document["results"]:
        low, high = row["ndcg@10_ci95"]
        lines.append(
            f"| {row['name']} | {row['ndcg@10']:.4f} ({low:.3f}-{high:.3f}) | "
            f"{row['mrr@10']:.4f} | {row['recall@10']:.4f} | {row['recall@20']:.4f} | "
            f"{row['catalog_coverage']:.3f} | {row['long_tail_share']:.3f} |"
        )
    paired = document.get("paired") or []
    if paired:
        lines += [
            "",
            "| comparison (same users) | NDCG@10 difference | paired bootstrap 95% CI |",
            "|---|---|---|",
        ]
        for pair in paired:
            low, high = pair["ci95"]
            lines.append(
                f"| {pair['system']} - {pair['against']} | {pair['difference']:+.4f} | "
                f"{low:+.4f} to {high:+.4f} |"
            )
    return "\n".join(lines)


__all__ = [
    "BASELINES",
    "ROW_ORDER",
    "BenchOptions",
    "markdown_table",
    "paired_comparisons",
    "run_quality_bench",
    "tune_pipeline",
    "tuning_candidates",
]

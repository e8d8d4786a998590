"""The tuning harness: sweep knob configurations, score each with the offline evaluator (local
engine or over HTTP), judge it against guardrails, and write the run folder: run_###.json,
summary.json, charts, report.md and a zipped evidence bundle.

Time is cut in three: train, validation, test. Every configuration is ranked on the validation
window (rankers see events up to its start, relevance comes from inside it); the one chosen there
is then scored once, with the popularity baseline, on the test window (rankers see train and
validation events, relevance comes from after). No choice ever sees a test figure: the runs'
objectives, which the optimiser learns from, are validation figures, and the guardrails judge the
chosen configuration's test figures."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from recsys.client import RecsysClient
from recsys.config.knobs import TUNABLE, KnobValues
from recsys.offline.dataset import NamespaceData, TemporalSplit, temporal_split
from recsys.offline.evaluate import (
    POPULARITY_BASELINE,
    LocalRanker,
    Ranker,
    Reference,
    evaluate,
    iso,
    run_lists,
    score_lists,
)
from recsys.offline.guardrails import Thresholds, quality_checks, verdict
from recsys.offline.protocols import subset_events
from recsys.offline.search_space import OBJECTIVES
from recsys.policy.namespace import NamespacePolicy
from recsys.toolkit.evidence import bundle, fingerprint, manifest, new_folder, stamp, write_json
from recsys.toolkit.runs import TUNING_RUNS, segment_alias
from recsys.toolkit.tuning_report import write_report

# Sweep option (as a Python name: `--profile-boosts` -> profile_boosts) -> knob override key,
# for every tunable knob of the catalogue.
PARAMETERS: dict[str, str] = {
    knob.search.sweep_option[2:].replace("-", "_"): knob.key
    for knob in TUNABLE
    if knob.search is not None
}


class EmptyWindow(ValueError):
    """A window with no user to score: the namespace needs more events over time."""


@dataclass(frozen=True)
class Windows:
    """Validation: rank as of `validation.cut_us`, score on what users did up to `test.cut_us`.
    Test: rank as of `test.cut_us`, score on what users did after it."""

    validation: TemporalSplit
    test: TemporalSplit


def tuning_windows(data: NamespaceData, *, seed: int) -> Windows:
    """The test window is the last fifth of the events (the same cut `recsys eval` uses); the
    validation window is the last fifth of what comes before it, cut the same way from those
    events alone, so nothing after the test cut can move it."""
    test = temporal_split(data, seed=seed)
    before = NamespaceData(
        items=data.items,
        users=data.users,
        events=subset_events(data.events, data.events.ts_us <= test.cut_us),
    )
    return Windows(validation=temporal_split(before, seed=seed), test=test)


@dataclass
class TuningPlan:
    namespace: str
    configurations: list[dict[str, Any]]
    base_overrides: dict[str, Any] = field(default_factory=dict)
    segment: str | None = None
    engine: str = "local"
    limit_users: int | None = 150
    seed: int = 2025
    profile_name: str | None = None
    command: str = ""
    # The tenant whose data was tuned (None: offline data): the console shows a run to its org.
    org_id: str | None = None


def _objectives(result: Mapping[str, Any], segment: str | None) -> dict[str, float]:
    lift = result["lift"]
    metrics = result["metrics"]
    segment_metrics = result["segments"].get(segment, {}) if segment else {}
    segment_base = result["_baseline"].segments.get(segment, {}) if segment else {}

    def relative(new: float, old: float) -> float:
        return (new - old) / old if old > 0 else float("nan")

    if segment:
        seg_ndcg = relative(segment_metrics.get("ndcg@10", 0.0), segment_base.get("ndcg@10", 0.0))
        seg_mrr = relative(segment_metrics.get("mrr@10", 0.0), segment_base.get("mrr@10", 0.0))
    else:
        seg_ndcg, seg_mrr = lift["ndcg@10"]["relative"], lift["mrr@10"]["relative"]
    return {
        "ndcg_lift": lift["ndcg@10"]["relative"],
        "mrr_lift": lift["mrr@10"]["relative"],
        "segment_ndcg_lift": seg_ndcg,
        "segment_mrr_lift": seg_mrr,
        "catalog_coverage": metrics["catalog_coverage"],
        "long_tail_share": metrics["long_tail_share"],
        "ndcg@10": metrics["ndcg@10"],
    }


def pareto_front(points: Sequence[tuple[int, float, float]]) -> list[int]:
    """Runs not dominated on (ndcg lift, coverage), both maximised."""
    front = []
    for run, x, y in points:
        dominated = any(
            (x2 >= x and y2 >= y) and (x2 > x or y2 > y) for r2, x2, y2 in points if r2 != run
        )
        if not dominated and not (np.isnan(x) or np.isnan(y)):
            front.append(run)
    return sorted(front)


def run_sweep(
    plan: TuningPlan,
    data: NamespaceData,
    *,
    base_knobs: KnobValues,
    thresholds: Thresholds,
    now: datetime,
    client: RecsysClient | None = None,
    policy_at: Callable[[int], NamespacePolicy] | None = None,
    progress: Callable[[int], None] | None = None,
    root: Path = TUNING_RUNS,
) -> Path:
    """Rank every configuration on the validation window, score the chosen one on the test
    window; write and return the run folder. `policy_at(cut)`: the namespace's policy with the
    config version in force at a window's cut (default: the catalogue defaults)."""
    started = time.perf_counter()
    windows = tuning_windows(data, seed=plan.seed)
    segments = data.segments()
    validation = _users_for(plan, segments, windows.validation)
    test = _users_for(plan, segments, windows.test)
    for name, window in (("validation", validation), ("test", test)):
        if not window.users:
            raise EmptyWindow(
                f"no user{' of segment ' + repr(plan.segment) if plan.segment else ''} has "
                f"events on both sides of the {name} cut: seed more events over time"
            )
    policy = policy_at(validation.cut_us) if policy_at else NamespacePolicy()
    val_ranker, val_reference = _ranker(plan, data, validation, base_knobs, client, policy)
    users = list(validation.users)
    baseline_overrides = {**plan.base_overrides, **POPULARITY_BASELINE}
    baseline = score_lists(
        users,
        run_lists(val_ranker, users, baseline_overrides),
        validation,
        val_reference,
        segments,
    )
    folder = new_folder(root, f"{plan.namespace}_{stamp(now)}")
    runs: list[dict[str, Any]] = []
    namespace_knobs = policy.knobs(base_knobs)
    for number, parameters in enumerate(plan.configurations, start=1):
        overrides = {**plan.base_overrides, **parameters}
        # Every tunable knob's value in this run (namespace config with the run's overrides),
        # so the optimiser can place the run even on knobs it did not sweep.
        effective = namespace_knobs.with_overrides(overrides)
        t0 = time.perf_counter()
        result = evaluate(
            val_ranker,
            validation,
            val_reference,
            segments,
            overrides=overrides,
            baseline=baseline,
            seed=plan.seed,
        )
        objectives = _objectives(result, plan.segment)
        judged = verdict(quality_checks(objectives, thresholds))
        evaluation = result["_evaluation"]
        record = {
            "run": number,
            "namespace": plan.namespace,
            "segment": plan.segment,
            "engine": plan.engine,
            "window": "validation",
            "parameters": parameters,
            "overrides": overrides,
            "knobs": {knob.key: effective[knob.key] for knob in TUNABLE},
            "users": result["users"],
            "metrics": result["metrics"],
            "baseline": result["baseline"],
            "lift": result["lift"],
            "segments": result["segments"],
            "segment_lift": result["segment_lift"],
            "objectives": objectives,
            "guardrails": judged,
            "samples": _samples(val_ranker, evaluation, plan, validation),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        write_json(folder / f"run_{number:03d}.json", record)
        runs.append(record)
        if progress:
            progress(1)
    chosen = _choose(runs, plan.segment)
    test_policy = policy_at(test.cut_us) if policy_at else NamespacePolicy()
    test_ranker, test_reference = _ranker(plan, data, test, base_knobs, client, test_policy)
    result = evaluate(
        test_ranker,
        test,
        test_reference,
        segments,
        overrides=runs[chosen - 1]["overrides"],
        seed=plan.seed,
    )
    test_objectives = _objectives(result, plan.segment)
    scored = {
        "run": chosen,
        "chosen_by": _choice_objective(plan.segment),
        "parameters": runs[chosen - 1]["parameters"],
        "validation": runs[chosen - 1]["objectives"],
        "test": {
            "users": result["users"],
            "metrics": result["metrics"],
            "baseline": result["baseline"],
            "lift": result["lift"],
            "objectives": test_objectives,
            "guardrails": verdict(quality_checks(test_objectives, thresholds)),
        },
    }
    # The chosen run's file carries its test figures too, beside (never instead of) the
    # validation ones every run has.
    chosen_record = {**runs[chosen - 1], "chosen": True, "test": scored["test"]}
    write_json(folder / f"run_{chosen:03d}.json", chosen_record)
    summary = _summary(
        plan,
        runs,
        windows,
        (validation, test),
        scored,
        thresholds,
        data,
        now,
        time.perf_counter() - started,
    )
    write_json(folder / "summary.json", summary)
    write_report(folder, summary, runs, list(PARAMETERS.values()))
    manifest(
        folder,
        tool="tuning_harness",
        now=now,
        extra={"namespace": plan.namespace, "command": plan.command},
    )
    bundle(folder)
    return folder


def _choice_objective(segment: str | None) -> str:
    return "segment_ndcg_lift" if segment else "ndcg_lift"


def _choose(runs: Sequence[Mapping[str, Any]], segment: str | None) -> int:
    """The run with the best validation NDCG lift (the segment's when tuning a segment) among
    those that pass the guardrails on validation; among all runs when none does. Ties go to the
    earlier run."""
    objective = _choice_objective(segment)
    pool = [r for r in runs if r["guardrails"]["passed"]] or list(runs)

    def key(run: Mapping[str, Any]) -> tuple[float, int]:
        value = run["objectives"][objective]
        return (-np.inf if np.isnan(value) else value, -run["run"])

    return int(max(pool, key=key)["run"])


def _ranker(
    plan: TuningPlan,
    data: NamespaceData,
    window: TemporalSplit,
    base_knobs: KnobValues,
    client: RecsysClient | None,
    policy: NamespacePolicy,
) -> tuple[Ranker, Reference]:
    """The ranker of one window (ranking as of its cut) and the reference its lists are scored
    against (training popularity and long tail as of the same cut)."""
    local = LocalRanker(data, cut_us=window.cut_us, base_knobs=base_knobs, policy=policy)
    reference = Reference.from_snapshot(local.snapshot)
    if plan.engine != "http":
        return local, reference
    if client is None:
        raise ValueError("the http engine needs a client")
    from recsys.offline.http_ranker import HttpRanker

    return HttpRanker(client, plan.namespace, cut_us=window.cut_us), reference


def _users_for(
    plan: TuningPlan, segments: Mapping[str, str], split: TemporalSplit
) -> TemporalSplit:
    """The window's users: the segment's when tuning one, at most `limit_users` (seeded)."""
    users = list(split.users)
    if plan.segment:
        users = [u for u in users if segments.get(u) == plan.segment]
    if plan.limit_users is not None and len(users) > plan.limit_users:
        rng = np.random.default_rng(plan.seed)
        users = sorted(rng.choice(users, size=plan.limit_users, replace=False).tolist())
    return TemporalSplit(split.cut_us, tuple(users), {u: split.relevant[u] for u in users})


def _samples(
    ranker: Ranker, evaluation: Any, plan: TuningPlan, split: TemporalSplit
) -> list[dict[str, Any]]:
    http_samples = getattr(ranker, "samples", None)
    if http_samples:
        return list(http_samples)
    return [
        {
            "request": {
                "namespace": plan.namespace,
                "user_id": user,
                "k": len(items),
                "context": {"as_of": split.cut_us},
            },
            "response": {"items": items},
            "relevant": sorted(split.relevant[user]),
        }
        for user, items in list(zip(evaluation.users, evaluation.lists, strict=True))[:3]
    ]


def data_shape(data: NamespaceData) -> dict[str, int]:
    """How big the namespace's data is, and how recent: what a run's fingerprint hashes."""
    return {
        "items": len(data.items),
        "users": len(data.users),
        "events": len(data.events),
        "last_ts": int(data.events.ts_us.max()) if len(data.events) else 0,
    }


def _summary(
    plan: TuningPlan,
    runs: list[dict[str, Any]],
    windows: Windows,
    scored_users: tuple[TemporalSplit, TemporalSplit],
    chosen: dict[str, Any],
    thresholds: Thresholds,
    data: NamespaceData,
    now: datetime,
    seconds: float,
) -> dict[str, Any]:
    best = {}
    for objective in OBJECTIVES:
        scored = [
            (r["objectives"][objective], -r["run"])
            for r in runs
            if not np.isnan(r["objectives"][objective])
        ]
        if scored:
            best[objective] = -max(scored)[1]
    validation, test = scored_users
    shape = data_shape(data)
    return {
        "namespace": plan.namespace,
        "org_id": plan.org_id,
        "aliases": [segment_alias(plan.segment)] if plan.segment else [],
        "segment": plan.segment,
        "engine": plan.engine,
        "profile_name": plan.profile_name,
        "created_at": now.isoformat(),
        "seconds": round(seconds, 3),
        "seed": plan.seed,
        "command": plan.command,
        "windows": {
            "train": {"until": iso(windows.validation.cut_us)},
            "validation": {
                "after": iso(windows.validation.cut_us),
                "until": iso(windows.test.cut_us),
                "users": len(validation.users),
            },
            "test": {"after": iso(windows.test.cut_us), "users": len(test.users)},
        },
        "data_fingerprint": fingerprint(shape),
        # The shape itself, so that shipping can tell "grown a little" from "another dataset".
        "data": shape,
        "thresholds": {"source": thresholds.source, "quality": dict(thresholds.quality)},
        "runs": [
            {
                "run": r["run"],
                "window": r["window"],
                "parameters": r["parameters"],
                "objectives": r["objectives"],
                "metrics": {
                    k: r["metrics"][k]
                    for k in (
                        "ndcg@10",
                        "mrr@10",
                        "recall@20",
                        "catalog_coverage",
                        "long_tail_share",
                    )
                },
                "guardrails": r["guardrails"],
            }
            for r in runs
        ],
        # Best per objective over the validation figures; `chosen` is the one run scored on
        # the test window.
        "best": best,
        "chosen": chosen,
        "pareto": pareto_front(
            [
                (r["run"], r["objectives"]["ndcg_lift"], r["objectives"]["catalog_coverage"])
                for r in runs
            ]
        ),
        "passed": sum(1 for r in runs if r["guardrails"]["passed"]),
        "failed": sum(1 for r in runs if not r["guardrails"]["passed"]),
    }


__all__ = [
    "PARAMETERS",
    "EmptyWindow",
    "TuningPlan",
    "Windows",
    "pareto_front",
    "run_sweep",
    "tuning_windows",
]

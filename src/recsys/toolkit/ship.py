"""Whether a tuning run may ship: the gate `recsys ship` passes a run through before any live
traffic sees it (the canary that follows is built on top of this).

A run may ship when (1) it is the run its harness chose on the validation window — the only run
scored on the test window, so the only one whose guardrails can be re-checked on data its
choice never saw; (2) those test-window figures pass the guardrails in force now; (3) it was
tuned on this namespace; and (4) the namespace still holds the data it was tuned on, or that
data grown a little: items, users and events each within `tolerance` (10% by default) of their
counts at tuning time, and no event older than the newest one then — a reset or re-seeded
namespace is another dataset, and figures measured on the old one say nothing about it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.offline.guardrails import Thresholds, quality_checks

DEFAULT_TOLERANCE = 0.10
SHAPE_KEYS = ("items", "users", "events")


class ShipRefused(ValueError):
    """The run may not ship; the message says why (the CLI prints it and exits 1)."""


@dataclass(frozen=True)
class Candidate:
    """A tuning run ready to be gated: its knob overrides and its test-window figures."""

    run_dir: Path
    namespace: str
    run: int
    overrides: Mapping[str, Any]
    test_objectives: Mapping[str, float]
    data: Mapping[str, int]


def load_candidate(run_dir: Path, *, namespace: str, run: int | None = None) -> Candidate:
    """The run `run` of the tuning run folder (default: the one its harness chose)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except FileNotFoundError:
        raise ShipRefused(f"{run_dir} holds no summary.json: not a tuning run folder") from None
    if summary.get("namespace") != namespace:
        raise ShipRefused(
            f"{run_dir.name} was tuned on namespace {summary.get('namespace')!r}, not {namespace!r}"
        )
    chosen = summary.get("chosen")
    if chosen is None or "test" not in chosen:
        raise ShipRefused(
            f"{run_dir.name} has no test-window figures (tuned before runs had validation and "
            "test windows): tune again"
        )
    if "data" not in summary:
        raise ShipRefused(f"{run_dir.name} does not record the data it was tuned on: tune again")
    run = chosen["run"] if run is None else run
    if run != chosen["run"]:
        raise ShipRefused(
            f"run {run} was scored on the validation window only; run {chosen['run']}, the one "
            "chosen there, is the run scored on the test window and the only one that can ship"
        )
    record = json.loads((run_dir / f"run_{run:03d}.json").read_text())
    return Candidate(
        run_dir=run_dir,
        namespace=namespace,
        run=run,
        overrides=dict(record["overrides"]),
        test_objectives=dict(chosen["test"]["objectives"]),
        data=dict(summary["data"]),
    )


def data_drift(
    tuned: Mapping[str, int], live: Mapping[str, int], tolerance: float = DEFAULT_TOLERANCE
) -> list[str]:
    """Why the live namespace is no longer the data the run was tuned on (empty: it still is)."""
    reasons = []
    for key in SHAPE_KEYS:
        before, now = int(tuned[key]), int(live[key])
        change = abs(now - before) / max(before, 1)
        if change > tolerance:
            reasons.append(
                f"{key}: {now} now against {before} when tuned ({change:.0%} apart, more than "
                f"{tolerance:.0%})"
            )
    if int(live["last_ts"]) < int(tuned["last_ts"]):
        reasons.append(
            "the newest event is older than the newest one when tuned: the namespace was reset "
            "or replaced"
        )
    return reasons


def gate(
    candidate: Candidate,
    thresholds: Thresholds,
    live: Mapping[str, int],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[str]:
    """Every reason the candidate may not ship; empty when it may."""
    reasons = [
        f"guardrail {check.name}: {check.value:.4f} on the test window, below {check.threshold:g}"
        for check in quality_checks(candidate.test_objectives, thresholds)
        if not check.passed
    ]
    return reasons + data_drift(candidate.data, live, tolerance)


def namespace_level_knobs(overrides: Mapping[str, Any]) -> list[str]:
    """The candidate's knobs that only a namespace config can set (they shape the signals built
    once for all requests), so a canary cannot serve them to a share of the traffic."""
    from recsys.config.knobs import KNOBS_BY_KEY

    return sorted(
        key for key in overrides if key in KNOBS_BY_KEY and KNOBS_BY_KEY[key].scope == "namespace"
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def changes(overrides: Mapping[str, Any], in_force: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides that change a knob's value in force (a run's overrides repeat the whole
    profile it started from, most of it the incumbent's own values)."""
    return {
        key: value
        for key, value in overrides.items()
        if key not in in_force or not _same(value, in_force[key])
    }


def shippable(
    candidate: Candidate, in_force: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """What a canary would serve (the candidate's changes to the config in force) and why it
    cannot (empty: it can)."""
    changed = changes(candidate.overrides, in_force)
    if not changed:
        return changed, [
            f"run {candidate.run} sets every knob to the value already in force: nothing to ship"
        ]
    fixed = namespace_level_knobs(changed)
    if fixed:
        return changed, [
            f"run {candidate.run} changes namespace-level knobs {', '.join(fixed)}: they shape "
            "the signals every request shares, so they cannot be served to a share of the "
            "traffic; apply them with env_profile_manager.py --apply after review, or tune "
            "request-level knobs only"
        ]
    return changed, []


def canary_body(
    candidate: Candidate,
    overrides: Mapping[str, Any],
    *,
    surface: str,
    traffic_share: float,
    min_decisions: int,
    confidence: float,
    budget_decisions: int,
    look_every: int,
    min_coverage_ratio: float,
    author: str | None,
) -> dict[str, Any]:
    """The POST /v1/ship/canaries body for a candidate that passed the gate; `source` links the
    run folder, its evidence bundle and the test-window figures it shipped on."""
    evidence = candidate.run_dir / "evidence.zip"
    return {
        "namespace": candidate.namespace,
        "surface": surface,
        "overrides": dict(overrides),
        "traffic_share": traffic_share,
        "min_decisions": min_decisions,
        "confidence": confidence,
        "budget_decisions": budget_decisions,
        "look_every": look_every,
        "min_coverage_ratio": min_coverage_ratio,
        "author": author,
        "source": {
            "run_dir": str(candidate.run_dir),
            "run": candidate.run,
            "evidence": str(evidence) if evidence.exists() else None,
            "test_objectives": {
                k: (v if math.isfinite(v) else None) for k, v in candidate.test_objectives.items()
            },
            "tuned_data": dict(candidate.data),
        },
    }


__all__ = [
    "DEFAULT_TOLERANCE",
    "Candidate",
    "ShipRefused",
    "canary_body",
    "changes",
    "data_drift",
    "gate",
    "load_candidate",
    "namespace_level_knobs",
    "shippable",
]

"""The canary's decision rule: when a candidate configuration, served beside the incumbent, has
earned enough evidence to be promoted, rolled back, or given up on.

Each arm's statistics are its decisions and the sum of their rewards in [0, 1] (a decision never
rewarded counts as 0), and its posterior is Beta(1 + Σr, 1 + n - Σr) as in `algorithms`. The
rule is checked after every batch of decisions (a sequential rule, so its thresholds are
strict on purpose):

1. a live guardrail that broke rolls the candidate back at once, whatever the evidence;
2. until each arm has `min_decisions`, keep collecting;
3. promote when P(candidate's mean > control's) ≥ `confidence`;
4. roll back when P(candidate's mean < control's) ≥ `confidence`;
5. otherwise keep collecting until `budget_decisions` in all, then stop with no decision (the
   incumbent stays).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from recsys.bandit.algorithms import beta_parameters

Verdict = Literal["collecting", "promote", "rollback", "no_decision"]
Arm = Literal["candidate", "control"]
VERDICTS: tuple[Verdict, ...] = ("collecting", "promote", "rollback", "no_decision")

# Points of the integration grid; the grid spans where either posterior has mass, so even
# posteriors as narrow as a million decisions' are resolved to well under 1e-4.
_GRID = 4001
_TAIL = 1e-12


@dataclass(frozen=True)
class ArmEvidence:
    decisions: int
    reward_sum: float


@dataclass(frozen=True)
class CanaryRule:
    """The rule's parameters: decisions per arm before any verdict, the posterior probability
    a verdict needs, and the decisions (both arms together) after which it stops undecided."""

    min_decisions: int = 200
    confidence: float = 0.95
    budget_decisions: int = 20_000

    def __post_init__(self) -> None:
        if self.min_decisions < 1:
            raise ValueError("min_decisions must be at least 1")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError("confidence must be between 0.5 and 1 (exclusive)")
        if self.budget_decisions < 2 * self.min_decisions:
            raise ValueError("budget_decisions must allow min_decisions on both arms")


@dataclass(frozen=True)
class Assessment:
    """The verdict so far, the probability it rests on, and why (for the audit and the CLI)."""

    verdict: Verdict
    p_candidate_better: float
    reason: str


def probability_better(candidate: ArmEvidence, control: ArmEvidence) -> float:
    """P(candidate's mean reward > control's) under the two Beta posteriors:
    ∫ f_candidate(x) · F_control(x) dx, on a grid over where either posterior has mass."""
    (a_x, a_y), (b_x, b_y) = beta_parameters(
        [candidate.decisions, control.decisions], [candidate.reward_sum, control.reward_sum]
    )
    x_dist, y_dist = stats.beta(a_x, b_x), stats.beta(a_y, b_y)
    low = min(x_dist.ppf(_TAIL), y_dist.ppf(_TAIL))
    high = max(x_dist.isf(_TAIL), y_dist.isf(_TAIL))
    grid = np.linspace(low, high, _GRID)
    # Below `low` the candidate has no mass; above `high` the control's CDF is 1.
    inside = np.trapezoid(x_dist.pdf(grid) * y_dist.cdf(grid), grid)
    return float(np.clip(inside + x_dist.sf(high), 0.0, 1.0))


def assess(
    rule: CanaryRule,
    candidate: ArmEvidence,
    control: ArmEvidence,
    *,
    broken_guardrail: str | None = None,
) -> Assessment:
    """Apply the rule (module docstring) to the evidence so far."""
    p = probability_better(candidate, control)
    if broken_guardrail is not None:
        return Assessment("rollback", p, f"live guardrail broken: {broken_guardrail}")
    fewest = min(candidate.decisions, control.decisions)
    total = candidate.decisions + control.decisions
    if fewest >= rule.min_decisions:
        if p >= rule.confidence:
            return Assessment("promote", p, f"P(candidate better) = {p:.4f} >= {rule.confidence}")
        if 1.0 - p >= rule.confidence:
            return Assessment(
                "rollback", p, f"P(candidate worse) = {1 - p:.4f} ≥ {rule.confidence}"
            )
    if total >= rule.budget_decisions:
        return Assessment(
            "no_decision",
            p,
            f"budget of {rule.budget_decisions} decisions spent with P(candidate better) = "
            f"{p:.4f}: the incumbent stays",
        )
    if fewest < rule.min_decisions:
        return Assessment(
            "collecting", p, f"{fewest} of {rule.min_decisions} decisions on the smaller arm"
        )
    return Assessment("collecting", p, f"P(candidate better) = {p:.4f}: not yet decisive")


def arm_of(canary_id: str, user_id: str, traffic_share: float) -> Arm:
    """The arm a user sees for the whole canary: a hash of (canary, user) mapped to [0, 1),
    below `traffic_share` the candidate. Stable across requests, workers and restarts, and
    independent between canaries (a user is not always in the first share)."""
    digest = hashlib.sha256(f"{canary_id}\0{user_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "candidate" if position < traffic_share else "control"


def coverage_guardrail(
    candidate_lists: Sequence[Sequence[str]],
    control_lists: Sequence[Sequence[str]],
    min_ratio: float,
) -> str | None:
    """The live guardrail: over the same number of lists per arm (the first n of each, n the
    smaller arm's), the candidate must show at least `min_ratio` as many distinct items as the
    control, and must not serve more empty lists than the control plus 5 points. Returns what
    broke, or None. Equal list counts matter: distinct items grow with the lists shown, so an
    arm with more traffic would look more diverse for that reason alone."""
    n = min(len(candidate_lists), len(control_lists))
    if n == 0:
        return None
    candidate, control = candidate_lists[:n], control_lists[:n]
    shown = len({item for items in candidate for item in items})
    baseline = len({item for items in control for item in items})
    if baseline and shown < min_ratio * baseline:
        return (
            f"coverage: the candidate showed {shown} distinct items in {n} lists against the "
            f"control's {baseline} (ratio {shown / baseline:.2f} < {min_ratio:g})"
        )
    empty = sum(1 for items in candidate if not items) / n
    empty_control = sum(1 for items in control if not items) / n
    if empty > empty_control + 0.05:
        return (
            f"empty lists: {empty:.1%} of the candidate's lists against {empty_control:.1%} of "
            "the control's"
        )
    return None


__all__ = [
    "VERDICTS",
    "Arm",
    "ArmEvidence",
    "Assessment",
    "CanaryRule",
    "Verdict",
    "arm_of",
    "assess",
    "coverage_guardrail",
    "probability_better",
]

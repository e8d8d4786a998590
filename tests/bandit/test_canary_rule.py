"""The canary's decision rule, on evidence whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.bandit.canary import (
    ArmEvidence,
    CanaryRule,
    arm_of,
    assess,
    coverage_guardrail,
    probability_better,
)

RULE = CanaryRule(min_decisions=200, confidence=0.95, budget_decisions=4000)


def arm(decisions: int, rate: float) -> ArmEvidence:
    return ArmEvidence(decisions=decisions, reward_sum=decisions * rate)


@pytest.mark.parametrize(
    ("candidate", "control"),
    [(arm(0, 0), arm(0, 0)), (arm(50, 0.3), arm(40, 0.2)), (arm(5000, 0.101), arm(7000, 0.1))],
)
def test_the_probability_agrees_with_sampling_the_posteriors(
    candidate: ArmEvidence, control: ArmEvidence
) -> None:
    rng = np.random.default_rng(7)
    draws = 400_000
    x = rng.beta(1 + candidate.reward_sum, 1 + candidate.decisions - candidate.reward_sum, draws)
    y = rng.beta(1 + control.reward_sum, 1 + control.decisions - control.reward_sum, draws)
    assert probability_better(candidate, control) == pytest.approx(np.mean(x > y), abs=0.004)


def test_symmetry_and_certainty() -> None:
    a, b = arm(1000, 0.12), arm(900, 0.1)
    assert probability_better(a, b) + probability_better(b, a) == pytest.approx(1.0, abs=1e-6)
    assert probability_better(arm(10_000, 0.2), arm(10_000, 0.1)) == pytest.approx(1.0)
    assert probability_better(arm(1000, 0.1), arm(1000, 0.1)) == pytest.approx(0.5, abs=1e-3)


def test_a_clearly_better_candidate_is_promoted_and_a_worse_one_rolled_back() -> None:
    assert assess(RULE, arm(1000, 0.15), arm(1000, 0.10)).verdict == "promote"
    assert assess(RULE, arm(1000, 0.10), arm(1000, 0.15)).verdict == "rollback"


def test_no_verdict_before_the_minimum_on_both_arms() -> None:
    early = assess(RULE, arm(150, 0.9), arm(1000, 0.1))
    assert early.verdict == "collecting" and early.p_candidate_better > 0.999
    assert "150 of 200" in early.reason


def test_an_undecided_canary_stops_at_its_budget_and_keeps_the_incumbent() -> None:
    assert assess(RULE, arm(1000, 0.1), arm(1000, 0.1)).verdict == "collecting"
    spent = assess(RULE, arm(2000, 0.1), arm(2000, 0.1))
    assert spent.verdict == "no_decision" and "incumbent stays" in spent.reason


def test_a_broken_guardrail_rolls_back_whatever_the_evidence() -> None:
    verdict = assess(RULE, arm(5000, 0.5), arm(5000, 0.1), broken_guardrail="coverage < 0.2")
    assert verdict.verdict == "rollback" and "coverage" in verdict.reason


@pytest.mark.parametrize(
    "options",
    [{"min_decisions": 0}, {"confidence": 0.5}, {"confidence": 1.0}, {"budget_decisions": 100}],
)
def test_rule_parameters_are_checked(options: dict) -> None:
    with pytest.raises(ValueError):
        CanaryRule(**options)


def test_arms_are_stable_per_user_and_split_at_the_share() -> None:
    users = [f"user-{n}" for n in range(4000)]
    arms = [arm_of("c1", user, 0.2) for user in users]
    assert arms == [arm_of("c1", user, 0.2) for user in users]
    assert sum(a == "candidate" for a in arms) / len(users) == pytest.approx(0.2, abs=0.02)
    # A larger share keeps every candidate user on the candidate (the hash is a threshold).
    wider = [arm_of("c1", user, 0.5) for user in users]
    assert all(w == "candidate" for a, w in zip(arms, wider, strict=True) if a == "candidate")
    # Another canary draws its own users.
    other = [arm_of("c2", user, 0.2) for user in users]
    overlap = sum(a == o == "candidate" for a, o in zip(arms, other, strict=True))
    assert overlap / len(users) == pytest.approx(0.04, abs=0.015)


def test_the_coverage_guardrail_compares_as_many_lists_per_arm() -> None:
    varied = [[f"i{n}", f"i{n + 1}"] for n in range(0, 40, 2)]  # 20 lists, 40 items
    narrow = [["i0", "i1"]] * 20
    assert coverage_guardrail(varied, varied, 0.5) is None
    broke = coverage_guardrail(narrow, varied, 0.5)
    assert broke is not None and "showed 2 distinct items in 20 lists against the control's 40" in (
        broke
    )
    # More lists on the candidate's side are not counted: only the first 20 of each.
    assert coverage_guardrail(varied + varied, varied[:10], 0.5) is None
    assert coverage_guardrail(narrow, varied, 0.0) is None
    empty = [[]] * 5 + varied[:15]
    assert "empty lists" in str(coverage_guardrail(empty, varied, 0.5))
    assert coverage_guardrail([], varied, 0.5) is None

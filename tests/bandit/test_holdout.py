"""Holdout assignment: deterministic per unit, the configured share, where configured."""

from __future__ import annotations

import pytest

from recsys.bandit.holdout import Experiment, assignment_unit, holdout_position

ORG = "00000000-0000-0000-0000-0000000000aa"


def test_assignment_is_deterministic() -> None:
    experiment = Experiment.of(enabled=True, holdout_percent=10, surfaces=(), label="h")
    for n in range(50):
        unit = assignment_unit(user_id=f"user-{n}", decision_id="ignored")
        first = experiment.group(org_id=ORG, namespace="ns", unit=unit)
        assert all(
            experiment.group(org_id=ORG, namespace="ns", unit=unit) == first for _ in range(3)
        )


def test_about_ten_percent_of_users_are_held_out() -> None:
    experiment = Experiment.of(enabled=True, holdout_percent=10, surfaces=(), label="h")
    groups = [experiment.group(org_id=ORG, namespace="ns", unit=f"user:u{n}") for n in range(2000)]
    share = groups.count("holdout") / len(groups)
    assert 0.08 <= share <= 0.12, share


def test_positions_are_uniform_and_differ_by_namespace() -> None:
    positions = [holdout_position(org_id=ORG, namespace="a", unit=f"u{n}") for n in range(2000)]
    assert all(0.0 <= p < 100.0 for p in positions)
    deciles = [sum(1 for p in positions if d * 10 <= p < (d + 1) * 10) for d in range(10)]
    assert min(deciles) > 150 and max(deciles) < 250
    other = [holdout_position(org_id=ORG, namespace="b", unit=f"u{n}") for n in range(2000)]
    assert positions != other


def test_zero_and_hundred_percent() -> None:
    none = Experiment.of(enabled=True, holdout_percent=0, surfaces=(), label="h")
    every = Experiment.of(enabled=True, holdout_percent=100, surfaces=(), label="h")
    units = [f"user:u{n}" for n in range(300)]
    assert {none.group(org_id=ORG, namespace="ns", unit=u) for u in units} == {"treatment"}
    assert {every.group(org_id=ORG, namespace="ns", unit=u) for u in units} == {"holdout"}


def test_which_surfaces_are_covered() -> None:
    assert not Experiment().covers("home")  # disabled by default
    everywhere = Experiment.of(enabled=True, holdout_percent=10, surfaces=(), label="h")
    assert everywhere.covers("home") and everywhere.covers("pdp")
    some = Experiment.of(enabled=True, holdout_percent=10, surfaces=("home",), label="h")
    assert some.covers("home") and not some.covers("pdp")


def test_the_unit_is_the_user_else_the_decision() -> None:
    assert assignment_unit(user_id="u1", decision_id="d1") == "user:u1"
    assert assignment_unit(user_id=None, decision_id="d1") == "decision:d1"


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan")])
def test_bad_percent_is_refused(percent: float) -> None:
    with pytest.raises(ValueError):
        Experiment.of(enabled=True, holdout_percent=percent, surfaces=(), label="h")

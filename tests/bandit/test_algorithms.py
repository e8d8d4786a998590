"""Thompson sampling and UCB1 on statistics whose right answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys.bandit.algorithms import (
    beta_parameters,
    choose,
    empirical_means,
    posterior_means,
    thompson,
    ucb1,
)


class FixedDraws:
    """A generator stand-in whose Beta draws are given: to test tie-breaking exactly."""

    def __init__(self, draws: list[float]) -> None:
        self.draws = np.asarray(draws)

    def beta(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        assert alpha.shape == beta.shape == self.draws.shape
        return self.draws


def test_beta_parameters_take_fractional_rewards() -> None:
    alpha, beta = beta_parameters([4, 0, 10], [2.5, 0.0, 10.0])
    assert alpha.tolist() == [3.5, 1.0, 11.0]
    assert beta.tolist() == [2.5, 1.0, 1.0]
    assert posterior_means([4], [2.5]).tolist() == [3.5 / 6.0]
    means = empirical_means([4, 0], [1.0, 0.0])
    assert means[0] == 0.25 and math.isnan(means[1])


def test_thompson_follows_overwhelming_evidence() -> None:
    rng = np.random.default_rng(1)
    picks = [thompson([1000, 1000, 1000], [100, 500, 900], rng).arm for _ in range(200)]
    assert picks == [2] * 200


def test_thompson_explore_flag_means_not_the_best_posterior_mean() -> None:
    rng = np.random.default_rng(2)
    pulls, sums = [3, 3], [2.0, 1.0]  # arm 0 has the better mean, but little evidence
    seen = set()
    for _ in range(300):
        choice = thompson(pulls, sums, rng)
        assert choice.explore == (choice.arm == 1)
        seen.add(choice.arm)
    assert seen == {0, 1}  # with so little evidence both arms get drawn


def test_thompson_is_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[int]:
        rng = np.random.default_rng(seed)
        return [thompson([2, 2, 2], [1.0, 1.0, 1.5], rng).arm for _ in range(50)]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_thompson_ties_go_to_the_first_arm() -> None:
    choice = thompson([1, 1, 1], [0.5, 0.5, 0.5], FixedDraws([0.3, 0.7, 0.7]))  # type: ignore[arg-type]
    assert choice.arm == 1 and not choice.explore  # equal posterior means: nothing explored


def test_thompson_with_fractional_rewards_prefers_the_better_arm() -> None:
    rng = np.random.default_rng(3)
    picks = [thompson([200, 200], [30.5, 150.25], rng).arm for _ in range(100)]
    assert picks.count(1) == 100


def test_ucb1_tries_untried_arms_first_in_order() -> None:
    assert ucb1([0, 0, 0], [0, 0, 0]).arm == 0
    choice = ucb1([3, 0, 0], [3.0, 0, 0])
    assert choice.arm == 1 and choice.explore
    assert math.isinf(choice.scores[1]) and math.isinf(choice.scores[2])
    assert ucb1([3, 4, 0], [0.0, 0.0, 0.0]).arm == 2


def test_ucb1_on_known_statistics() -> None:
    # Same evidence, better mean: exploitation.
    choice = ucb1([10, 10], [5.0, 6.0])
    assert choice.arm == 1 and not choice.explore
    # A well-known arm (mean 0.6) against a barely tried one (mean 0.5): the bonus wins.
    choice = ucb1([100, 2], [60.0, 1.0])
    total = math.log(102)
    assert choice.scores[0] == pytest.approx(0.6 + math.sqrt(2 * total / 100))
    assert choice.scores[1] == pytest.approx(0.5 + math.sqrt(2 * total / 2))
    assert choice.arm == 1 and choice.explore


def test_ucb1_ties_go_to_the_first_arm() -> None:
    choice = ucb1([5, 5, 5], [2.0, 3.0, 3.0])
    assert choice.arm == 1 and not choice.explore


def test_ucb1_uses_fractional_rewards() -> None:
    assert ucb1([50, 50], [12.5, 37.5]).arm == 1


def test_choose_dispatches_and_refuses_unknown_names() -> None:
    rng = np.random.default_rng(0)
    assert choose("ucb1", [0, 1], [0, 1], rng).arm == 0
    assert choose("thompson", [1000, 1000], [0, 1000], rng).arm == 1
    with pytest.raises(ValueError, match="unknown bandit algorithm"):
        choose("epsilon", [1], [1], rng)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pulls", "sums"),
    [([], []), ([1, 2], [1]), ([1], [2]), ([-1], [0]), ([1], [-0.5]), ([float("nan")], [0])],
)
def test_bad_statistics_are_refused(pulls: list[float], sums: list[float]) -> None:
    with pytest.raises(ValueError):
        ucb1(pulls, sums)

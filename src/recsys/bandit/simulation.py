"""Offline simulation: the server's bandit algorithms against Bernoulli arms of known payoff.

Each round chooses an arm with the same pure functions the service uses, draws a 0/1 reward with
that arm's payoff and updates the statistics as a reward call would. Regret is the expected
(pseudo-)regret: the best payoff minus the chosen arm's payoff, so it measures the choices and
not the luck of the reward draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.bandit import ALGORITHMS, Algorithm
from recsys.bandit.algorithms import choose

DEFAULT_PAYOFFS = (0.2, 0.5, 0.8)


@dataclass(frozen=True)
class SimulationRun:
    algorithm: Algorithm
    payoffs: tuple[float, ...]
    choices: np.ndarray  # arm chosen in each round
    rewards: np.ndarray  # reward drawn in each round
    cumulative_regret: np.ndarray  # after each round

    @property
    def pulls(self) -> list[int]:
        return np.bincount(self.choices, minlength=len(self.payoffs)).astype(int).tolist()

    def regret_between(self, first_round: int, last_round: int) -> float:
        """Regret accumulated over rounds first..last (1-based, inclusive)."""
        before = self.cumulative_regret[first_round - 2] if first_round > 1 else 0.0
        return float(self.cumulative_regret[last_round - 1] - before)


def _checked(payoffs: Sequence[float], rounds: int) -> tuple[float, ...]:
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    if len(payoffs) < 2:
        raise ValueError("a bandit needs at least two arms")
    if not all(0.0 <= p <= 1.0 for p in payoffs):
        raise ValueError("payoffs are probabilities: each must be in [0, 1]")
    return tuple(float(p) for p in payoffs)


def simulate(
    algorithm: Algorithm, payoffs: Sequence[float], rounds: int, rng: np.random.Generator
) -> SimulationRun:
    arms = _checked(payoffs, rounds)
    probabilities = np.asarray(arms)
    pulls = np.zeros(len(arms))
    sums = np.zeros(len(arms))
    choices = np.empty(rounds, dtype=np.int64)
    rewards = np.empty(rounds)
    for t in range(rounds):
        arm = choose(algorithm, pulls, sums, rng).arm
        reward = float(rng.random() < probabilities[arm])
        pulls[arm] += 1
        sums[arm] += reward
        choices[t], rewards[t] = arm, reward
    regret = np.cumsum(probabilities.max() - probabilities[choices])
    return SimulationRun(algorithm, arms, choices, rewards, regret)


def simulate_all(
    payoffs: Sequence[float], rounds: int, seed: int
) -> dict[Algorithm, SimulationRun]:
    """Every algorithm on the same arms, each with its own stream derived from `seed` (adding an
    algorithm never changes another's run)."""
    streams = np.random.SeedSequence(seed).spawn(len(ALGORITHMS))
    return {
        name: simulate(name, payoffs, rounds, np.random.default_rng(stream))
        for name, stream in zip(ALGORITHMS, streams, strict=True)
    }


__all__ = ["DEFAULT_PAYOFFS", "SimulationRun", "simulate", "simulate_all"]

"""Thompson sampling and UCB1 as pure, vectorised functions of per-arm statistics.

An arm is a position in the arrays passed in, and that order is the tie-break order (the service
passes arms sorted by `policy_id`). `pulls[i]` counts the decisions that chose arm i and
`reward_sums[i]` adds the rewards in [0, 1] those decisions received, so a decision that is never
rewarded counts as reward 0: callers who only report successes (clicks) get correct statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from recsys.bandit import ALGORITHMS, Algorithm


@dataclass(frozen=True)
class Choice:
    """The arm chosen, whether that was exploration, and the score each arm was ranked by."""

    arm: int
    explore: bool
    # Thompson: each arm's posterior sample; UCB1: each arm's upper confidence bound (inf for
    # an arm never tried).
    scores: np.ndarray


def _statistics(pulls: ArrayLike, reward_sums: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(pulls, dtype=np.float64)
    s = np.asarray(reward_sums, dtype=np.float64)
    if n.ndim != 1 or n.shape != s.shape or n.size == 0:
        raise ValueError("pulls and reward_sums must be equal-length, non-empty 1-d arrays")
    if not (np.isfinite(n).all() and np.isfinite(s).all()):
        raise ValueError("statistics must be finite")
    if (n < 0).any() or (s < 0).any():
        raise ValueError("statistics must not be negative")
    # Sums of fractional rewards may overshoot their count by a rounding error; more than that
    # means rewards outside [0, 1] were added.
    if (s > n + 1e-9 * np.maximum(n, 1.0)).any():
        raise ValueError("a reward sum exceeds its number of pulls")
    return n, np.minimum(s, n)


def beta_parameters(pulls: ArrayLike, reward_sums: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Each arm's Beta posterior under a uniform prior: (1 + Σr, 1 + n - Σr).

    Fractional rewards are fine: the parameters need only be positive, and this is the
    posterior of a Bernoulli arm whose successes are counted fractionally.
    """
    n, s = _statistics(pulls, reward_sums)
    return 1.0 + s, 1.0 + n - s


def posterior_means(pulls: ArrayLike, reward_sums: ArrayLike) -> np.ndarray:
    alpha, beta = beta_parameters(pulls, reward_sums)
    return alpha / (alpha + beta)


def empirical_means(pulls: ArrayLike, reward_sums: ArrayLike) -> np.ndarray:
    """Σr / n per arm; NaN for an arm never tried."""
    n, s = _statistics(pulls, reward_sums)
    out = np.full(n.shape, np.nan)
    np.divide(s, n, out=out, where=n > 0)
    return out


def thompson(pulls: ArrayLike, reward_sums: ArrayLike, rng: np.random.Generator) -> Choice:
    """Draw one sample from each arm's Beta posterior and take the largest (first on a tie).

    `explore` is true when the arm drawn is not one with the best posterior mean.
    """
    alpha, beta = beta_parameters(pulls, reward_sums)
    samples = rng.beta(alpha, beta)
    arm = int(np.argmax(samples))
    means = alpha / (alpha + beta)
    return Choice(arm=arm, explore=bool(means[arm] < means.max()), scores=samples)


def ucb1(pulls: ArrayLike, reward_sums: ArrayLike) -> Choice:
    """Untried arms first (the first of them); then the largest mean + sqrt(2 ln N / n).

    Deterministic: ties go to the first arm. `explore` is true when the arm is untried or its
    empirical mean is not the best one.
    """
    n, s = _statistics(pulls, reward_sums)
    untried = n == 0
    if untried.any():
        scores = np.where(untried, np.inf, np.nan)
        tried = ~untried
        if tried.any():
            scores[tried] = s[tried] / n[tried] + np.sqrt(2.0 * np.log(n.sum()) / n[tried])
        return Choice(arm=int(np.flatnonzero(untried)[0]), explore=True, scores=scores)
    means = s / n
    scores = means + np.sqrt(2.0 * np.log(n.sum()) / n)
    arm = int(np.argmax(scores))
    return Choice(arm=arm, explore=bool(means[arm] < means.max()), scores=scores)


def choose(
    algorithm: Algorithm,
    pulls: ArrayLike,
    reward_sums: ArrayLike,
    rng: np.random.Generator,
) -> Choice:
    """Dispatch by name; `rng` is only drawn from by Thompson sampling."""
    if algorithm == "thompson":
        return thompson(pulls, reward_sums, rng)
    if algorithm == "ucb1":
        return ucb1(pulls, reward_sums)
    raise ValueError(f"unknown bandit algorithm {algorithm!r}; use one of {list(ALGORITHMS)}")


__all__ = [
    "Choice",
    "beta_parameters",
    "choose",
    "empirical_means",
    "posterior_means",
    "thompson",
    "ucb1",
]

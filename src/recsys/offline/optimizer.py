"""Suggest the next knob configurations to evaluate, from past tuning runs: constrained Bayesian
optimisation with a Gaussian-process surrogate. Pure: no I/O, deterministic given `seed`.

How it works, and the decisions behind it:

- Space (recsys.offline.search_space). Each knob is mapped from its [low, high] range to
  [0, 1]: affinely, or affinely in the logarithm for the knobs the catalogue searches on a log
  scale. Integer knobs (popularity_fanout) are searched as continuous and snapped to whole
  numbers, float knobs to `FLOAT_DECIMALS` decimals, *before* any prediction: the mean, std
  and probabilities reported for a suggestion are those of exactly the configuration
  suggested.
- History. Every observation that sets all the searched knobs is used, including runs outside
  the ranges. They are NOT clipped: clipping would move a measurement to a place where it was
  never made. They keep their true (scaled) coordinates, outside [0, 1], and the kernel
  discounts them by their distance to the box; near the boundary they are real evidence.
  Observations that miss a knob cannot be located and are skipped (counted in `skipped_runs`).
  Other knobs that varied between runs (e.g. profile_boost) are not modelled: their effect is
  absorbed by the noise term.
- Surrogate. A zero-mean GP on standardised targets with a Matern 5/2 kernel and a noise term.
  Hyperparameters maximise the log marginal likelihood (type II maximum likelihood): the signal
  variance in closed form (profiled out), the lengthscale and the noise-to-signal ratio by a
  log-spaced grid polished with L-BFGS-B. One shared lengthscale (isotropic), or, from
  `ARD_MIN_RUNS` runs, one per knob (ARD) when the Bayesian information criterion says the
  extra lengthscales pay for themselves: with few runs, per-knob lengthscales only overfit.
- Constraints. Each floor {objective: minimum} gets its own GP (the objective's GP when the
  floor is on the objective itself) and the probability of meeting it, P(value >= floor); a
  floor with fewer than `MIN_HISTORY` finite observations is reported but not modelled.
- Acquisition. Expected improvement over the incumbent (the best posterior mean among runs
  that met every modelled floor), times the probability of meeting every floor (Gardner et al.
  2014). When no run met the floors yet, the acquisition is that probability alone: first find
  the feasible region.
- Candidates. A scrambled Sobol pool (seeded) over the box, plus Gaussian perturbations around
  the best pool points, snapped and de-duplicated.
- Batch. Kriging believer: after each pick, the objective GP is conditioned on its own
  prediction there (hyperparameters kept), which removes the uncertainty, hence the expected
  improvement, around that point; the incumbent moves up if the pick is believed feasible.
  Picks also keep a minimum distance (`MIN_DISTANCE`, in scaled units) from each other.
- Cold start. With fewer than `MIN_HISTORY` usable runs, no GP: a seeded Latin hypercube, the
  most spread-out (maximin, also away from the runs there are) of `SPACE_FILLING_DESIGNS`
  draws, reported as the "space_filling" strategy with the reason.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, optimize
from scipy.stats import norm, qmc

from recsys.offline.search_space import OBJECTIVES, SearchSpace, finite_number

Array = NDArray[np.float64]

GAUSSIAN_PROCESS = "gaussian_process"
SPACE_FILLING = "space_filling"

MIN_HISTORY = 3  # usable runs below which the GP is not fitted
ARD_MIN_RUNS = 20  # runs from which each knob may get its own lengthscale
MIN_DISTANCE = 0.1  # between two suggestions, Euclidean in scaled [0, 1] units
XI = 0.01  # EI exploration margin, in units of the objective's standard deviation
POOL_LOG2 = 10  # 1024 Sobol candidates
LOCAL_CENTRES = 16
LOCAL_PER_CENTRE = 32
LOCAL_SCALE = 0.05
SPACE_FILLING_DESIGNS = 32

_LENGTHSCALE_GRID = np.geomspace(0.05, 3.0, 12)
_RATIO_GRID = np.geomspace(1e-4, 1.0, 7)  # noise variance / signal variance
_LOG_LENGTHSCALE_BOUNDS = (math.log(0.02), math.log(10.0))
_LOG_RATIO_BOUNDS = (math.log(1e-6), math.log(4.0))
_JITTER = 1e-9
_MIN_SIGNAL = 1e-6


# --------------------------------------------------------------------------------------------
# Data types


@dataclass(frozen=True)
class Observation:
    """One past run: the knob values it used and the objectives it measured."""

    parameters: Mapping[str, float]
    objectives: Mapping[str, float]


@dataclass(frozen=True)
class Suggestion:
    """One configuration to evaluate next. `mean`/`std` predict the objective (None when the
    strategy is space filling); `constraint_probability` is P(value >= floor) per floor (None
    for floors that could not be modelled)."""

    config: dict[str, float | int]
    mean: float | None = None
    std: float | None = None
    acquisition: float | None = None
    constraint_probability: dict[str, float | None] = field(default_factory=dict)

    @property
    def feasibility(self) -> float | None:
        """P(every modelled floor is met), treating the floors as independent."""
        known = [p for p in self.constraint_probability.values() if p is not None]
        return float(np.prod(known)) if known else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": dict(self.config),
            "predicted": {"mean": self.mean, "std": self.std},
            "acquisition": self.acquisition,
            "constraint_probability": dict(self.constraint_probability),
            "feasibility": self.feasibility,
        }


@dataclass(frozen=True)
class Proposal:
    """The suggestions with how they were made."""

    strategy: str  # GAUSSIAN_PROCESS or SPACE_FILLING
    reason: str
    suggestions: list[Suggestion]
    history_runs: int  # runs the objective's model was fitted on
    skipped_runs: int  # runs that could not be used (a knob missing, objective not finite)
    incumbent: float | None = None  # best posterior mean among runs meeting every floor
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Gaussian process


def matern52(a: Array, b: Array, lengthscales: Array) -> Array:
    """Matern 5/2 correlation between the rows of `a` and of `b` (unit signal variance)."""
    return _matern52(_squared_gaps(a, b), lengthscales)


def _squared_gaps(a: Array, b: Array) -> Array:
    """(d, len(a), len(b)) squared differences per dimension."""
    diff = a.T[:, :, None] - b.T[:, None, :]
    return np.asarray(diff * diff)


def _matern52(squared_gaps: Array, lengthscales: Array) -> Array:
    r2 = np.tensordot(1.0 / np.asarray(lengthscales) ** 2, squared_gaps, axes=1)
    r = np.sqrt(np.maximum(r2, 0.0))
    s5r = math.sqrt(5.0) * r
    return np.asarray((1.0 + s5r + 5.0 / 3.0 * r * r) * np.exp(-s5r))


@dataclass(frozen=True)
class _Factor:
    chol: Array
    alpha: Array  # R^-1 z
    signal: float  # profiled signal variance
    nll: float  # negative log marginal likelihood (without the constant)


def _factor(
    x: Array, z: Array, lengthscales: Array, ratio: float, gaps: Array | None = None
) -> _Factor | None:
    n = len(z)
    gaps = _squared_gaps(x, x) if gaps is None else gaps
    gram = _matern52(gaps, lengthscales) + (ratio + _JITTER) * np.eye(n)
    try:
        chol = linalg.cholesky(gram, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return None
    alpha = linalg.cho_solve((chol, True), z, check_finite=False)
    signal = max(float(z @ alpha) / n, _MIN_SIGNAL)
    # -log p(z) with K = signal * gram and the optimal signal: n/2 log signal + 1/2 log|gram|
    # (+ n/2 (1 + log 2 pi), a constant).
    nll = 0.5 * n * math.log(signal) + float(np.sum(np.log(np.diag(chol))))
    return _Factor(chol, alpha, signal, nll)


@dataclass(frozen=True)
class GaussianProcess:
    """A GP regression of y on points in scaled space. `predict` gives the posterior of the
    latent function (without the observation noise) in the units of y."""

    x: Array
    z: Array  # standardised targets
    y_mean: float
    y_scale: float
    lengthscales: Array
    noise_ratio: float  # noise variance / signal variance
    factor: _Factor
    ard: bool = False  # one lengthscale per dimension (else one shared)

    @classmethod
    def fit(cls, x: Array, y: Array, *, ard: bool | None = None) -> GaussianProcess:
        """Fit hyperparameters by maximum marginal likelihood: one shared lengthscale, or one
        per dimension when `ard` (default: from ARD_MIN_RUNS runs) and the Bayesian information
        criterion prefers it."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
            raise ValueError("x must be (n, d) and y (n,), n >= 1")
        if not np.all(np.isfinite(y)) or not np.all(np.isfinite(x)):
            raise ValueError("x and y must be finite")
        y_mean = float(np.mean(y))
        y_scale = float(np.std(y))
        if y_scale <= 1e-12 * max(1.0, abs(y_mean)):
            # A flat history: no spread to learn the scale from. Prior deviation: the size of
            # the value seen (1 if it is 0), moderate lengthscale, little noise.
            y_scale = abs(y_mean) if y_mean != 0 else 1.0
            z = (y - y_mean) / y_scale
            lengthscales = np.full(x.shape[1], 0.5)
            factor = _factor(x, z, lengthscales, 1e-2)
            assert factor is not None
            factor = _Factor(factor.chol, factor.alpha, 1.0, factor.nll)
            return cls(x, z, y_mean, y_scale, lengthscales, 1e-2, factor)
        z = (y - y_mean) / y_scale
        d = x.shape[1]
        if ard is None:
            ard = len(y) >= ARD_MIN_RUNS

        gaps = _squared_gaps(x, x)

        def objective(theta: Array) -> float:
            lengthscales = np.exp(theta[:-1]) if len(theta) > 2 else np.full(d, np.exp(theta[0]))
            found = _factor(x, z, lengthscales, float(np.exp(theta[-1])), gaps)
            return found.nll if found is not None else 1e30

        best_theta, best_nll = np.zeros(2), math.inf
        for lengthscale in _LENGTHSCALE_GRID:
            for ratio in _RATIO_GRID:
                theta = np.log([lengthscale, ratio])
                value = objective(theta)
                if value < best_nll:
                    best_theta, best_nll = theta, value
        best_theta, best_nll = _polish(objective, best_theta, best_nll, d=1)
        if ard and d > 1:
            start = np.concatenate([np.full(d, best_theta[0]), best_theta[-1:]])
            ard_theta, ard_nll = _polish(objective, start, best_nll, d=d)
            # BIC: the d - 1 extra lengthscales must buy enough likelihood.
            if best_nll - ard_nll > 0.5 * (d - 1) * math.log(len(y)):
                best_theta, best_nll = ard_theta, ard_nll
        if len(best_theta) > 2:
            lengthscales = np.exp(best_theta[:-1])
        else:
            lengthscales = np.full(d, float(np.exp(best_theta[0])))
        ratio = float(np.exp(best_theta[-1]))
        factor = _factor(x, z, lengthscales, ratio)
        if factor is None:  # pragma: no cover - the grid only keeps factorisable points
            raise ValueError("could not factorise the kernel matrix")
        return cls(x, z, y_mean, y_scale, lengthscales, ratio, factor, ard=len(best_theta) > 2)

    @property
    def signal_variance(self) -> float:
        """In units of y squared."""
        return self.factor.signal * self.y_scale**2

    @property
    def noise_variance(self) -> float:
        """In units of y squared."""
        return self.noise_ratio * self.signal_variance

    @property
    def log_marginal_likelihood(self) -> float:
        """Of the standardised targets."""
        n = len(self.z)
        return -self.factor.nll - 0.5 * n * (1.0 + math.log(2.0 * math.pi))

    def predict(self, points: Array) -> tuple[Array, Array]:
        """Posterior mean and standard deviation of the function at `points` (rows)."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        cross = matern52(points, self.x, self.lengthscales)
        mean_z = cross @ self.factor.alpha
        solved = linalg.solve_triangular(self.factor.chol, cross.T, lower=True)
        var_z = self.factor.signal * np.maximum(1.0 - np.sum(solved * solved, axis=0), 1e-12)
        return self.y_mean + self.y_scale * mean_z, self.y_scale * np.sqrt(var_z)

    def condition(self, points: Array, values: Array) -> GaussianProcess:
        """The same GP (hyperparameters and standardisation kept) with more observations."""
        x = np.vstack([self.x, np.atleast_2d(points)])
        z = np.concatenate([self.z, (np.atleast_1d(values) - self.y_mean) / self.y_scale])
        found = _factor(x, z, self.lengthscales, self.noise_ratio)
        if found is None:  # pragma: no cover - the noise term keeps the matrix positive
            raise ValueError("could not factorise the kernel matrix")
        factor = _Factor(found.chol, found.alpha, self.factor.signal, found.nll)
        return GaussianProcess(
            x, z, self.y_mean, self.y_scale, self.lengthscales, self.noise_ratio, factor, self.ard
        )

    def describe(self) -> dict[str, Any]:
        return {
            "runs": len(self.z),
            "kernel": "matern52, " + ("ARD" if self.ard else "isotropic"),
            "lengthscales": [round(float(v), 6) for v in self.lengthscales],
            "signal_variance": self.signal_variance,
            "noise_variance": self.noise_variance,
            "log_marginal_likelihood": self.log_marginal_likelihood,
        }


def _polish(
    objective: Callable[[Array], float], start: Array, start_value: float, *, d: int
) -> tuple[Array, float]:
    bounds = [_LOG_LENGTHSCALE_BOUNDS] * d + [_LOG_RATIO_BOUNDS]
    result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=bounds)
    if np.all(np.isfinite(result.x)) and float(result.fun) < start_value:
        return np.asarray(result.x, dtype=np.float64), float(result.fun)
    return start, start_value


# --------------------------------------------------------------------------------------------
# Acquisition


def expected_improvement(mean: Array, std: Array, best: float, xi: float = 0.0) -> Array:
    """E[max(f - best - xi, 0)] for f ~ N(mean, std^2) (maximisation)."""
    std = np.maximum(std, 1e-12)
    improvement = mean - best - xi
    z = improvement / std
    return np.asarray(np.maximum(improvement * norm.cdf(z) + std * norm.pdf(z), 0.0))


def probability_at_least(mean: Array, std: Array, floor: float) -> Array:
    """P(f >= floor) for f ~ N(mean, std^2)."""
    return np.asarray(norm.cdf((mean - floor) / np.maximum(std, 1e-12)))


# --------------------------------------------------------------------------------------------
# Suggesting


def suggest(
    history: Sequence[Observation],
    *,
    ranges: Mapping[str, tuple[float, float]],
    objective: str,
    constraints: Mapping[str, float] | None = None,
    n: int = 5,
    seed: int = 2025,
) -> list[Suggestion]:
    """`n` distinct configurations inside `ranges` to evaluate next (see `propose`)."""
    return propose(
        history, ranges=ranges, objective=objective, constraints=constraints, n=n, seed=seed
    ).suggestions


def propose(
    history: Sequence[Observation],
    *,
    ranges: Mapping[str, tuple[float, float]],
    objective: str,
    constraints: Mapping[str, float] | None = None,
    n: int = 5,
    seed: int = 2025,
) -> Proposal:
    """`n` distinct configurations inside `ranges` that maximise `objective` subject to the
    floors `constraints` ({objective name: minimum}), and how they were chosen."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    if n < 1:
        raise ValueError("n must be at least 1")
    space = SearchSpace(ranges)
    floors = {name: float(value) for name, value in (constraints or {}).items()}
    located: list[tuple[Array, Observation]] = []
    for observation in history:
        point = space.locate(observation.parameters)
        if point is not None:
            located.append((point, observation))
    usable = [(p, o) for p, o in located if finite_number(o.objectives.get(objective)) is not None]
    skipped = len(history) - len(usable)
    if len(usable) < MIN_HISTORY:
        found = (
            f"{len(usable)} usable of {len(history)} past runs (usable: sets "
            f"{', '.join(space.names)} and has a finite {objective})"
            if history
            else "no past runs"
        )
        reason = (
            f"{found}; a model needs at least {MIN_HISTORY}: seeded Latin hypercube, the most "
            f"spread-out of {SPACE_FILLING_DESIGNS} draws"
        )
        existing = np.array([p for p, _ in located]).reshape(-1, space.dimensions)
        return Proposal(
            strategy=SPACE_FILLING,
            reason=reason,
            suggestions=_space_filling(space, existing, n, seed, floors),
            history_runs=len(usable),
            skipped_runs=skipped,
        )
    return _bayesian(space, usable, located, objective, floors, n, seed, skipped)


def _bayesian(
    space: SearchSpace,
    usable: list[tuple[Array, Observation]],
    located: list[tuple[Array, Observation]],
    objective: str,
    floors: Mapping[str, float],
    n: int,
    seed: int,
    skipped: int,
) -> Proposal:
    x = np.array([p for p, _ in usable])
    y = np.array([float(o.objectives[objective]) for _, o in usable])
    model = GaussianProcess.fit(x, y)
    models = {objective: model.describe()}
    constraint_models: dict[str, GaussianProcess | None] = {}
    unmodelled = []
    for name in floors:
        if name == objective:
            constraint_models[name] = model
            continue
        rows = [
            (p, value)
            for p, o in located
            if (value := finite_number(o.objectives.get(name))) is not None
        ]
        if len(rows) < MIN_HISTORY:
            constraint_models[name] = None
            unmodelled.append(name)
            continue
        fitted = GaussianProcess.fit(np.array([p for p, _ in rows]), np.array([v for _, v in rows]))
        constraint_models[name] = fitted
        models[name] = fitted.describe()

    def met(observation: Observation) -> bool:
        return all(
            (value := finite_number(observation.objectives.get(name))) is not None
            and value >= floor
            for name, floor in floors.items()
            if constraint_models[name] is not None
        )

    feasible = np.array([met(o) for _, o in usable])
    incumbent: float | None = None
    if feasible.any():
        incumbent = float(np.max(model.predict(x[feasible])[0]))
    xi = XI * model.y_scale

    def scores(gp: GaussianProcess, points: Array, best: float | None) -> Array:
        """The acquisition, with `gp` as the objective's model."""
        mean, std = gp.predict(points)
        feasibility = np.ones(len(points))
        for name, floor in floors.items():
            fitted: GaussianProcess | None = gp if name == objective else constraint_models[name]
            if fitted is None:
                continue
            if fitted is gp:
                feasibility *= probability_at_least(mean, std, floor)
            else:
                feasibility *= probability_at_least(*fitted.predict(points), floor)
        if best is None:
            return feasibility
        return expected_improvement(mean, std, best, xi) * feasibility

    generator = np.random.default_rng(seed)
    pool = _pool(space, generator)
    acquisition = scores(model, pool, incumbent)
    top = pool[np.argsort(-acquisition, kind="stable")[:LOCAL_CENTRES]]
    local = top[:, None, :] + generator.normal(
        0.0, LOCAL_SCALE, size=(len(top), LOCAL_PER_CENTRE, space.dimensions)
    )
    pool = _unique(space.snap(np.vstack([pool, local.reshape(-1, space.dimensions)])))

    believer, best = model, incumbent
    chosen: list[int] = []
    suggestions: list[Suggestion] = []
    for _ in range(n):
        acquisition = scores(believer, pool, best)
        index = _pick(pool, acquisition, chosen)
        if index is None:
            break
        chosen.append(index)
        point = pool[index : index + 1]
        mean, std = model.predict(point)
        probabilities: dict[str, float | None] = {}
        believed_feasible = True
        for name, floor in floors.items():
            constraint_model = constraint_models[name]
            if constraint_model is None:
                probabilities[name] = None
                continue
            c_mean, c_std = constraint_model.predict(point)
            probabilities[name] = float(probability_at_least(c_mean, c_std, floor)[0])
            believed_feasible &= bool(c_mean[0] >= floor)
        suggestions.append(
            Suggestion(
                config=space.config(point[0]),
                mean=float(mean[0]),
                std=float(std[0]),
                acquisition=float(acquisition[index]),
                constraint_probability=probabilities,
            )
        )
        # Kriging believer: pretend the objective came out as predicted there.
        believed = believer.predict(point)[0]
        believer = believer.condition(point, believed)
        if believed_feasible:
            best = float(believed[0]) if best is None else max(best, float(believed[0]))

    kind = "ARD" if model.ard else "isotropic"
    if incumbent is not None:
        how = (
            f"expected improvement over the best run meeting the floors (posterior mean "
            f"{incumbent:.4g})" + (" times P(floors met)" if floors else "")
        )
    else:
        how = "no run met every floor yet: the probability of meeting them all"
    reason = (
        f"Gaussian process (Matern 5/2, {kind}, maximum marginal likelihood, noise term) fitted "
        f"on {len(y)} run(s); acquisition: {how}; batch of {len(suggestions)} by kriging "
        f"believer, at least {MIN_DISTANCE:g} apart in scaled units"
    )
    if unmodelled:
        reason += f"; too few runs to model {', '.join(unmodelled)}: not constrained"
    return Proposal(
        strategy=GAUSSIAN_PROCESS,
        reason=reason,
        suggestions=suggestions,
        history_runs=len(y),
        skipped_runs=skipped,
        incumbent=incumbent,
        models=models,
    )


def _pool(space: SearchSpace, generator: np.random.Generator) -> Array:
    sobol = qmc.Sobol(space.dimensions, scramble=True, **_qmc_random(qmc.Sobol, generator))
    return _unique(space.snap(sobol.random_base2(POOL_LOG2)))


def _pick(pool: Array, acquisition: Array, chosen: list[int]) -> int | None:
    """The best candidate at least MIN_DISTANCE from the chosen ones (failing that: the best
    one distinct from them), or None when the pool is exhausted."""
    if chosen:
        gaps = np.min(np.linalg.norm(pool[:, None, :] - pool[chosen][None], axis=-1), axis=1)
    else:
        gaps = np.full(len(pool), np.inf)
    for eligible in (gaps >= MIN_DISTANCE, gaps > 0):
        if eligible.any():
            return int(np.argmax(np.where(eligible, acquisition, -np.inf)))
    return None


def _space_filling(
    space: SearchSpace, existing: Array, n: int, seed: int, floors: Mapping[str, float]
) -> list[Suggestion]:
    generator = np.random.default_rng(seed)
    best: Array | None = None
    best_gap = -math.inf
    for _ in range(SPACE_FILLING_DESIGNS):
        sampler = qmc.LatinHypercube(space.dimensions, **_qmc_random(qmc.LatinHypercube, generator))
        design = space.snap(sampler.random(n))
        if len(_unique(design)) < n:
            continue
        points = np.vstack([design, existing])
        distances = np.linalg.norm(design[:, None, :] - points[None], axis=-1)
        distances[np.arange(n), np.arange(n)] = np.inf
        gap = float(np.min(distances)) if distances.size else math.inf
        if gap > best_gap:
            best, best_gap = design, gap
    if best is None:
        raise ValueError(f"cannot place {n} distinct configurations in these ranges")
    return [
        Suggestion(config=space.config(point), constraint_probability=dict.fromkeys(floors, None))
        for point in best
    ]


def _unique(points: Array) -> Array:
    """Rows without duplicates, in first-seen order."""
    _, first = np.unique(points, axis=0, return_index=True)
    return points[np.sort(first)]


def _qmc_random(engine: type, generator: np.random.Generator) -> dict[str, Any]:
    """SciPy >= 1.15 names the random source `rng`, older versions `seed`."""
    parameters = inspect.signature(engine).parameters
    return {"rng": generator} if "rng" in parameters else {"seed": generator}


__all__ = [
    "GAUSSIAN_PROCESS",
    "MIN_HISTORY",
    "SPACE_FILLING",
    "GaussianProcess",
    "Observation",
    "Proposal",
    "Suggestion",
    "expected_improvement",
    "matern52",
    "probability_at_least",
    "propose",
    "suggest",
]

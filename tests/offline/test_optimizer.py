"""The optimizer: a Gaussian process that learns a known function, constrained expected
improvement, diverse deterministic batches inside the ranges, a space-filling cold start, and
the `recsys optimize` command that feeds `tuning_harness.py --suggestions`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.config.knobs import TUNABLE, defaults, parse_overrides
from recsys.offline.optimizer import (
    GAUSSIAN_PROCESS,
    SPACE_FILLING,
    GaussianProcess,
    Observation,
    Suggestion,
    propose,
    suggest,
)
from recsys.offline.search_space import SearchSpace

RANGES: dict[str, tuple[float, float]] = {
    "blend_alpha": (0.3, 0.5),
    "blend_beta": (0.4, 0.6),
    "blend_gamma": (0.1, 0.3),
    "mmr_lambda": (0.15, 0.35),
    "popularity_fanout": (400, 800),
}
LOW = np.array([lo for lo, _ in RANGES.values()])
HIGH = np.array([hi for _, hi in RANGES.values()])
PEAK = np.array([0.6, 0.4, 0.5, 0.3, 0.7])  # in scaled units: inside the box

Objectives = Callable[[np.ndarray], dict[str, float]]


def peaked(u: np.ndarray) -> dict[str, float]:
    """A smooth objective with its maximum at PEAK; coverage always fine."""
    return {"segment_ndcg_lift": float(0.3 - np.sum((u - PEAK) ** 2)), "catalog_coverage": 0.2}


def unit(config: dict[str, float | int]) -> np.ndarray:
    return (np.array([config[k] for k in RANGES], dtype=float) - LOW) / (HIGH - LOW)


def history(function: Objectives, runs: int, seed: int = 7) -> list[Observation]:
    points = np.random.default_rng(seed).random((runs, len(RANGES)))
    return [
        Observation(dict(zip(RANGES, LOW + u * (HIGH - LOW), strict=True)), function(u))
        for u in points
    ]


def assert_valid(suggestions: list[Suggestion], n: int) -> None:
    assert len(suggestions) == n
    configs = [s.config for s in suggestions]
    assert len({tuple(sorted(c.items())) for c in configs}) == n, "suggestions must be distinct"
    for config in configs:
        assert list(config) == list(RANGES)
        for knob, (low, high) in RANGES.items():
            assert low <= config[knob] <= high, (knob, config)
        assert isinstance(config["popularity_fanout"], int)
        parse_overrides(config)  # the knobs accept every value


# -- the Gaussian process ------------------------------------------------------------------


def test_gp_learns_a_smooth_function() -> None:
    rng = np.random.default_rng(3)
    train, test = rng.random((40, 5)), rng.random((200, 5))

    def f(x: np.ndarray) -> np.ndarray:
        return np.sin(3 * x[:, 0]) + (x[:, 1] - 0.5) ** 2 - 0.5 * x[:, 2] * x[:, 3]

    gp = GaussianProcess.fit(train, f(train))
    mean, std = gp.predict(test)
    residual = np.sum((mean - f(test)) ** 2) / np.sum((f(test) - f(test).mean()) ** 2)
    assert residual < 0.05  # R^2 > 0.95 on held-out points
    # Calibrated enough: most held-out errors fall inside three posterior deviations.
    assert np.mean(np.abs(mean - f(test)) <= 3 * std + 1e-6) > 0.9
    # Certain at the data, uncertain far away from it.
    assert gp.predict(train)[1].max() < gp.predict(np.full((1, 5), 3.0))[1][0]
    assert np.isfinite(gp.log_marginal_likelihood)


def test_gp_gives_irrelevant_knobs_long_lengthscales_when_runs_allow() -> None:
    x = np.random.default_rng(3).random((30, 5))
    relevant = GaussianProcess.fit(x, np.sin(4 * x[:, 0]) + x[:, 1] ** 2)
    assert relevant.ard and relevant.lengthscales[2:].min() > 3 * relevant.lengthscales[:2].max()
    # All knobs matter alike: the extra lengthscales do not pay, one shared lengthscale.
    shared = GaussianProcess.fit(x, np.sum((x - 0.5) ** 2, axis=1))
    assert not shared.ard and np.ptp(shared.lengthscales) == 0
    # Too few runs: never per knob.
    assert not GaussianProcess.fit(x[:10], np.sin(4 * x[:10, 0])).ard


def test_gp_noise_term_absorbs_repeated_noisy_runs() -> None:
    rng = np.random.default_rng(5)
    x = np.repeat(rng.random((10, 2)), 3, axis=0)  # every configuration run three times
    y = x[:, 0] + rng.normal(0, 0.05, len(x))
    gp = GaussianProcess.fit(x, y)
    assert 1e-4 < gp.noise_variance < 0.01  # roughly the 0.05^2 it was generated with


def test_flat_history_still_fits() -> None:
    gp = GaussianProcess.fit(np.random.default_rng(1).random((5, 5)), np.full(5, 0.2))
    mean, std = gp.predict(np.full((1, 5), 0.5))
    assert mean[0] == pytest.approx(0.2) and std[0] > 0


# -- suggestions -----------------------------------------------------------------------------


def test_suggestions_concentrate_near_the_optimum() -> None:
    # Random configurations land this far from the peak on average.
    random = np.mean(np.linalg.norm(np.random.default_rng(0).random((500, 5)) - PEAK, axis=1))
    batch_distances = []
    for history_seed in range(1, 7):  # several histories: a property, not one lucky draw
        past = history(peaked, 25, seed=history_seed)
        proposal = propose(past, ranges=RANGES, objective="segment_ndcg_lift", n=5, seed=2025)
        assert proposal.strategy == GAUSSIAN_PROCESS and proposal.history_runs == 25
        assert_valid(proposal.suggestions, 5)
        distances = [np.linalg.norm(unit(s.config) - PEAK) for s in proposal.suggestions]
        batch_distances.append(np.mean(distances))
        # Every batch holds a configuration better than any tried so far...
        tried = min(np.linalg.norm(unit(dict(o.parameters)) - PEAK) for o in past)
        assert min(distances) < tried
        # ...and the model expects it: the first pick's prediction matches the best run's.
        first = proposal.suggestions[0]
        assert proposal.incumbent is not None and first.mean is not None
        assert first.mean > proposal.incumbent - 0.01
        assert all(s.std is not None and s.std >= 0 for s in proposal.suggestions)
    assert np.mean(batch_distances) < 0.45 * random


def test_deterministic_with_a_seed_and_seeds_differ() -> None:
    past = history(peaked, 12)
    kwargs: dict[str, Any] = {"ranges": RANGES, "objective": "segment_ndcg_lift", "n": 5}
    first = suggest(past, seed=11, **kwargs)
    assert first == suggest(past, seed=11, **kwargs)
    assert [s.config for s in first] != [s.config for s in suggest(past, seed=12, **kwargs)]
    cold = suggest([], seed=11, **kwargs)
    assert cold == suggest([], seed=11, **kwargs)
    assert [s.config for s in cold] != [s.config for s in suggest([], seed=12, **kwargs)]


def test_a_floor_steers_suggestions_away_from_where_it_fails() -> None:
    # The objective grows with mmr_lambda; coverage falls with it and fails the 0.05 floor in
    # the upper half of the range.
    def conflicted(u: np.ndarray) -> dict[str, float]:
        return {
            "segment_ndcg_lift": float(u[3] + 0.1 * u[0]),
            "catalog_coverage": float(0.1 - 0.1 * u[3]),
        }

    past = history(conflicted, 30)
    kwargs: dict[str, Any] = {"ranges": RANGES, "objective": "segment_ndcg_lift", "n": 5}
    free = propose(past, seed=1, **kwargs)
    bound = propose(past, seed=1, constraints={"catalog_coverage": 0.05}, **kwargs)
    assert_valid(bound.suggestions, 5)

    def coverage(proposal: Any) -> list[float]:
        return [conflicted(unit(s.config))["catalog_coverage"] for s in proposal.suggestions]

    # Unconstrained, the top of the mmr range, deep in the failing region; constrained, up to
    # the boundary (the best feasible place) and no further than a hair across it.
    assert max(coverage(free)) < 0.03
    assert min(coverage(bound)) > 0.05 - 0.002
    assert all(s.constraint_probability == {} for s in free.suggestions)
    probabilities = [s.constraint_probability["catalog_coverage"] for s in bound.suggestions]
    assert all(p is not None and 0 <= p <= 1 for p in probabilities)
    assert probabilities[0] is not None and probabilities[0] > 0.5
    # Still pushing the objective: at the boundary rather than anywhere feasible.
    assert np.mean([unit(s.config)[3] for s in bound.suggestions]) > 0.45


def test_no_feasible_run_yet_searches_for_feasibility() -> None:
    # Coverage grows with fanout and meets the floor only in the top ~30% of its range, where
    # no run went yet.
    def failing(u: np.ndarray) -> dict[str, float]:
        return {"segment_ndcg_lift": float(u[0]), "catalog_coverage": float(0.07 * u[4])}

    points = np.random.default_rng(4).random((15, 5)) * [1, 1, 1, 1, 0.6]
    past = [
        Observation(dict(zip(RANGES, LOW + u * (HIGH - LOW), strict=True)), failing(u))
        for u in points
    ]
    proposal = propose(
        past,
        ranges=RANGES,
        objective="segment_ndcg_lift",
        constraints={"catalog_coverage": 0.05},
        n=3,
        seed=4,
    )
    assert proposal.incumbent is None and "no run met every floor" in proposal.reason
    assert_valid(proposal.suggestions, 3)
    assert all(unit(s.config)[4] > 0.7 for s in proposal.suggestions)


def test_floor_on_the_objective_reuses_its_model() -> None:
    proposal = propose(
        history(peaked, 10),
        ranges=RANGES,
        objective="segment_ndcg_lift",
        constraints={"segment_ndcg_lift": 0.1, "long_tail_share": 0.02},
        n=2,
        seed=3,
    )
    assert set(proposal.models) == {"segment_ndcg_lift"}
    assert "long_tail_share" in proposal.reason  # too few runs measured it: not constrained
    for s in proposal.suggestions:
        assert s.constraint_probability["long_tail_share"] is None
        assert s.constraint_probability["segment_ndcg_lift"] is not None


def test_space_filling_without_history() -> None:
    for past in ([], history(peaked, 2)):
        proposal = propose(past, ranges=RANGES, objective="segment_ndcg_lift", n=6, seed=9)
        assert proposal.strategy == SPACE_FILLING
        assert "Latin hypercube" in proposal.reason and "at least 3" in proposal.reason
        assert_valid(proposal.suggestions, 6)
        assert all(s.mean is None and s.std is None for s in proposal.suggestions)
        # Spread out: every knob's values cover most of its range.
        points = np.array([unit(s.config) for s in proposal.suggestions])
        assert np.all(points.max(axis=0) - points.min(axis=0) > 0.5)
    assert "no past runs" in propose([], ranges=RANGES, objective="ndcg_lift", n=1).reason


def test_history_outside_the_ranges_counts_and_unlocatable_runs_are_skipped() -> None:
    inside = history(peaked, 4)
    outside = Observation({**inside[0].parameters, "blend_alpha": 0.9}, peaked(np.zeros(5)))
    partial = Observation({"blend_alpha": 0.4}, {"segment_ndcg_lift": 0.2})
    no_value = Observation(dict(inside[1].parameters), {"segment_ndcg_lift": float("nan")})
    proposal = propose(
        [*inside, outside, partial, no_value],
        ranges=RANGES,
        objective="segment_ndcg_lift",
        n=4,
        seed=1,
    )
    assert proposal.history_runs == 5 and proposal.skipped_runs == 2
    assert_valid(proposal.suggestions, 4)


def test_many_suggestions_stay_distinct_and_in_range() -> None:
    assert_valid(suggest(history(peaked, 8), ranges=RANGES, objective="ndcg_lift", n=30), 30)
    narrow = {**RANGES, "popularity_fanout": (500.0, 503.0)}
    picks = suggest(history(peaked, 8), ranges=narrow, objective="ndcg_lift", n=8, seed=2)
    assert {s.config["popularity_fanout"] for s in picks} <= {500, 501, 502, 503}


@pytest.mark.parametrize(
    ("ranges", "objective", "message"),
    [
        ({**RANGES, "blend_alpha": (0.5, 0.3)}, "ndcg_lift", "low < high"),
        ({**RANGES, "mmr_lambda": (0.2, 0.2)}, "ndcg_lift", "low < high"),
        ({**RANGES, "popularity_fanout": (400.2, 400.8)}, "ndcg_lift", "whole number"),
        (RANGES, "ndcg@10", "unknown objective"),
    ],
)
def test_bad_input(ranges: dict[str, tuple[float, float]], objective: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        propose([], ranges=ranges, objective=objective, n=3)


def test_search_space_snaps_inside_the_box() -> None:
    space = SearchSpace({"blend_alpha": (0.12345, 0.5), "popularity_fanout": (400.5, 800.5)})
    values = space.values(np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]]))
    assert values.tolist() == [[0.12345, 401.0], [0.5, 800.0], [0.12345, 800.0]]


# -- the command -----------------------------------------------------------------------------

PLAYBOOK_ARGS = [
    "optimize",
    "--namespace",
    "tune_seg_power_users",
    "--objective",
    "segment_ndcg_lift",
    "--suggestions",
    "5",
    "--alpha-range",
    "0.3",
    "0.5",
    "--beta-range",
    "0.4",
    "0.6",
    "--gamma-range",
    "0.1",
    "0.3",
    "--mmr-range",
    "0.15",
    "0.35",
    "--fanout-range",
    "400",
    "800",
    "--output",
    "analysis/results/next_suggestions.json",
]
GUARDRAILS = """\
defaults:
  quality:
    min_segment_lift_ndcg: 0.1
    min_catalog_coverage: 0.05
customers:
  demo_shop:
    namespace: demo
    quality:
      min_catalog_coverage: 0.1
"""


def write_summary(root: Path, runs: int, *, drop_fanout: bool = False) -> Path:
    folder = root / "analysis" / "results" / "tuning_runs" / "x"
    folder.mkdir(parents=True)
    records = []
    for number, observation in enumerate(history(peaked, runs), start=1):
        parameters: dict[str, Any] = {
            k: round(float(v), 4) for k, v in observation.parameters.items()
        }
        parameters["popularity_fanout"] = int(parameters["popularity_fanout"])
        parameters["profile_boost"] = 0.6  # swept too, not modelled
        # What the harness records: the overrides, and every tunable knob's value in the run.
        knobs = {k.key: defaults()[k.key] for k in TUNABLE} | parameters
        overrides = dict(parameters)
        if drop_fanout:
            # Not swept: only the run file's overrides record the value used.
            parameters.pop("popularity_fanout")
            knobs.pop("popularity_fanout")
        (folder / f"run_{number:03d}.json").write_text(
            json.dumps({"overrides": overrides, "knobs": knobs})
        )
        objectives = {**observation.objectives, "ndcg_lift": 0.1, "long_tail_share": 0.1}
        objectives["catalog_coverage"] = 0.15
        records.append(
            {
                "run": number,
                "parameters": parameters,
                "objectives": objectives,
                "metrics": {},
                "guardrails": {"passed": True, "checks": []},
            }
        )
    summary = {
        "namespace": "demo",
        "aliases": ["tune_seg_power_users"],
        "segment": "power_users",
        "runs": records,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NS", raising=False)
    (tmp_path / "guardrails.yml").write_text(GUARDRAILS)
    return tmp_path


def run(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def harness_configs(path: Path) -> list[dict[str, Any]]:
    """Exactly how `tuning_harness.py --suggestions FILE` reads the file."""
    return [s["config"] for s in json.loads(path.read_text())["suggestions"]]


def test_command_suggests_from_past_runs(workdir: Path) -> None:
    write_summary(workdir, 8)
    result = run(PLAYBOOK_ARGS)
    assert result.exit_code == 0, result.output
    output = workdir / "analysis" / "results" / "next_suggestions.json"
    payload = json.loads(output.read_text())
    assert payload["strategy"] == "gaussian_process"
    assert payload["history_runs"] == 8 and payload["skipped_runs"] == 0
    assert payload["namespace"] == "tune_seg_power_users"
    assert payload["objective"] == "segment_ndcg_lift" and payload["seed"] == 2025
    assert payload["ranges"]["popularity_fanout"] == [400, 800]
    # demo's floors: the customer entry matched by the summary's namespace.
    assert payload["constraints"] == {"segment_ndcg_lift": 0.1, "catalog_coverage": 0.1}
    assert len(payload["suggestions"]) == 5
    for suggestion in payload["suggestions"]:
        assert set(suggestion["predicted"]) == {"mean", "std"}
        assert set(suggestion["constraint_probability"]) == {
            "segment_ndcg_lift",
            "catalog_coverage",
        }
    configs = harness_configs(output)
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 5
    for config in configs:
        assert 0.3 <= config["blend_alpha"] <= 0.5 and 0.4 <= config["blend_beta"] <= 0.6
        assert 0.1 <= config["blend_gamma"] <= 0.3 and 0.15 <= config["mmr_lambda"] <= 0.35
        assert isinstance(config["popularity_fanout"], int)
        assert 400 <= config["popularity_fanout"] <= 800
        parse_overrides(config)
    assert "gaussian_process" in result.output and "blend_alpha" in result.output
    # Deterministic: the same command writes the same file.
    first = output.read_text()
    assert run(PLAYBOOK_ARGS).exit_code == 0
    assert output.read_text() == first


def test_command_reads_unswept_knobs_from_the_run_files(workdir: Path) -> None:
    write_summary(workdir, 5, drop_fanout=True)
    result = run([*PLAYBOOK_ARGS[:3], "--output", "out.json"])
    assert result.exit_code == 0, result.output
    payload = json.loads((workdir / "out.json").read_text())
    assert payload["history_runs"] == 5 and payload["strategy"] == "gaussian_process"
    assert payload["ranges"]["blend_alpha"] == [0, 1]  # the catalogue's search range
    assert payload["ranges"]["blend_delta"] == [0, 1]  # every tunable knob is searched


def test_command_without_runs_fills_the_space(workdir: Path) -> None:
    result = run(PLAYBOOK_ARGS)
    assert result.exit_code == 0, result.output
    payload = json.loads((workdir / "analysis" / "results" / "next_suggestions.json").read_text())
    assert payload["strategy"] == "space_filling" and payload["history_runs"] == 0
    assert "no past runs" in payload["reason"]
    assert len(harness_configs(workdir / "analysis" / "results" / "next_suggestions.json")) == 5
    assert "no tuning runs" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--alpha-range", "0.5", "0.3"], "--alpha-range"),
        (["--fanout-range", "800", "800"], "--fanout-range"),
        (["--mmr-range", "0.5", "1.5"], "--mmr-range"),
        (["--objective", "ndcg@10"], "unknown objective"),
        (["--guardrails", "missing.yml"], "not found"),
    ],
)
def test_command_rejects_bad_input(workdir: Path, change: list[str], message: str) -> None:
    result = run([*PLAYBOOK_ARGS, *change])
    assert result.exit_code == 2
    assert message in result.output
    assert not (workdir / "analysis" / "results" / "next_suggestions.json").exists()

"""The gate a tuning run passes before it may ship, on a real harness run: the chosen run of
this namespace, its test-window guardrails, and data that is still (nearly) what it was tuned
on."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsys.config.knobs import defaults
from recsys.offline.dataset import NamespaceData
from recsys.offline.guardrails import Thresholds
from recsys.offline.synthetic import generate
from recsys.toolkit.ship import (
    ShipRefused,
    changes,
    data_drift,
    gate,
    load_candidate,
    shippable,
)
from recsys.toolkit.tuning import TuningPlan, data_shape, run_sweep

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LENIENT = Thresholds(quality={"min_catalog_coverage": 0.0}, source="test")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NamespaceData]:
    generated = generate(n_items=120, n_users=150, n_events=5000, now=NOW, seed=3)
    data = generated.namespace_data()
    plan = TuningPlan(
        namespace="shop",
        configurations=[{"blend_alpha": 0.9, "blend_delta": 0.1}, {"blend_delta": 0.6}],
        limit_users=60,
        seed=7,
    )
    root = tmp_path_factory.mktemp("runs")
    folder = run_sweep(plan, data, base_knobs=defaults(), thresholds=LENIENT, now=NOW, root=root)
    return folder, data


def test_the_chosen_run_on_unchanged_data_may_ship(tuned: tuple[Path, NamespaceData]) -> None:
    folder, data = tuned
    candidate = load_candidate(folder, namespace="shop")
    summary = json.loads((folder / "summary.json").read_text())
    assert candidate.run == summary["chosen"]["run"]
    run = json.loads((folder / f"run_{candidate.run:03d}.json").read_text())
    assert candidate.overrides == run["overrides"]
    assert gate(candidate, LENIENT, data_shape(data)) == []


def test_a_guardrail_failing_on_the_test_window_refuses(tuned: tuple[Path, NamespaceData]) -> None:
    folder, data = tuned
    candidate = load_candidate(folder, namespace="shop")
    strict = Thresholds(quality={"min_catalog_coverage": 0.99}, source="test")
    (reason,) = gate(candidate, strict, data_shape(data))
    assert reason.startswith("guardrail min_catalog_coverage:") and "test window" in reason


def test_data_that_moved_on_refuses(tuned: tuple[Path, NamespaceData]) -> None:
    folder, data = tuned
    candidate = load_candidate(folder, namespace="shop")
    shape = data_shape(data)
    grown = {**shape, "events": int(shape["events"] * 1.05), "last_ts": shape["last_ts"] + 10}
    assert gate(candidate, LENIENT, grown) == []  # a little newer data is still this data
    doubled = {**shape, "events": shape["events"] * 2}
    assert [r.split(":")[0] for r in gate(candidate, LENIENT, doubled)] == ["events"]
    reset = {**shape, "last_ts": shape["last_ts"] - 1}
    assert "reset or replaced" in gate(candidate, LENIENT, reset)[0]
    assert data_drift(shape, doubled, tolerance=1.5) == []


def test_other_namespaces_other_runs_and_old_folders_are_refused(
    tuned: tuple[Path, NamespaceData], tmp_path: Path
) -> None:
    folder, _ = tuned
    with pytest.raises(ShipRefused, match="tuned on namespace 'shop', not 'books'"):
        load_candidate(folder, namespace="books")
    chosen = load_candidate(folder, namespace="shop").run
    other = 2 if chosen == 1 else 1
    with pytest.raises(ShipRefused, match="validation window only"):
        load_candidate(folder, namespace="shop", run=other)
    with pytest.raises(ShipRefused, match=r"no summary\.json"):
        load_candidate(tmp_path, namespace="shop")
    summary = json.loads((folder / "summary.json").read_text())
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "data"}))
    with pytest.raises(ShipRefused, match="does not record the data"):
        load_candidate(old, namespace="shop")


def test_a_canary_serves_only_what_the_run_changes(tuned: tuple[Path, NamespaceData]) -> None:
    folder, _ = tuned
    candidate = load_candidate(folder, namespace="shop")
    in_force = {**defaults().values, **candidate.overrides}
    # Every knob at its value in force: nothing to ship.
    overrides, reasons = shippable(candidate, in_force)
    assert overrides == {} and "nothing to ship" in reasons[0]
    # One request-level knob differs: that knob alone is served.
    key = sorted(candidate.overrides)[0]
    moved = {**in_force, key: candidate.overrides[key] + 0.25}
    overrides, reasons = shippable(candidate, moved)
    assert overrides == {key: candidate.overrides[key]} and reasons == []
    # A namespace-level knob that differs cannot go through a canary.
    with_fixed = dataclasses.replace(
        candidate, overrides={**candidate.overrides, "popularity_halflife_days": 7.0}
    )
    overrides, reasons = shippable(with_fixed, moved)
    assert "namespace-level knobs popularity_halflife_days" in reasons[0]
    assert changes({"a": 0.1 + 0.2, "b": [1, 2]}, {"a": 0.3, "b": (1, 2)}) == {}

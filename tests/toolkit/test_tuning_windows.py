"""The tuning harness's three windows: configurations are ranked on validation, the chosen one is
scored once on test, and nothing that happens in the test window can change a choice."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.config.knobs import defaults
from recsys.offline.dataset import NamespaceData
from recsys.offline.guardrails import Thresholds
from recsys.offline.synthetic import generate
from recsys.signals.assemble import EventLog
from recsys.toolkit.tuning import TuningPlan, run_sweep, tuning_windows

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CONFIGURATIONS = [
    {"blend_alpha": 0.9, "blend_delta": 0.1},
    {"blend_alpha": 0.2, "blend_delta": 0.6},
    {"blend_alpha": 0.4, "blend_delta": 0.4, "mmr_lambda": 0.5},
]
THRESHOLDS = Thresholds(quality={"min_catalog_coverage": 0.0}, source="test")


@pytest.fixture(scope="module")
def shop() -> NamespaceData:
    return generate(n_items=150, n_users=200, n_events=8000, now=NOW, seed=5).namespace_data()


def sweep(data: NamespaceData, root: Path) -> Path:
    plan = TuningPlan(namespace="shop", configurations=CONFIGURATIONS, limit_users=80, seed=7)
    return run_sweep(plan, data, base_knobs=defaults(), thresholds=THRESHOLDS, now=NOW, root=root)


def read(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text())


def with_test_window_scrambled(data: NamespaceData, seed: int) -> NamespaceData:
    """The same data up to the test cut; after it, every event names a different item."""
    cut = tuning_windows(data, seed=7).test.cut_us
    events = data.events
    after = events.ts_us > cut
    items = events.item.copy()
    rng = np.random.default_rng(seed)
    items[after] = rng.integers(0, len(events.items.ids), size=int(after.sum()))
    changed = dataclasses.replace(events, item=items)
    assert isinstance(changed, EventLog)
    return NamespaceData(items=data.items, users=data.users, events=changed)


def test_windows_follow_each_other_in_time(shop: NamespaceData) -> None:
    windows = tuning_windows(shop, seed=7)
    assert windows.validation.cut_us < windows.test.cut_us
    ev = shop.events
    users, items = np.asarray(ev.users.ids), np.asarray(ev.items.ids)
    inside = (ev.ts_us > windows.validation.cut_us) & (ev.ts_us <= windows.test.cut_us)
    pairs = set(zip(users[ev.user[inside]], items[ev.item[inside]], strict=True))
    # Validation relevance comes from the validation window only.
    for user, relevant in windows.validation.relevant.items():
        assert {(user, i) for i in relevant} <= pairs


def test_runs_are_ranked_on_validation_and_the_chosen_one_scored_on_test(
    shop: NamespaceData, tmp_path: Path
) -> None:
    folder = sweep(shop, tmp_path)
    summary = read(folder, "summary.json")
    runs = [read(folder, f"run_{n:03d}.json") for n in (1, 2, 3)]
    assert {r["window"] for r in runs} == {"validation"}
    assert [r["window"] for r in summary["runs"]] == ["validation"] * 3
    windows = summary["windows"]
    assert windows["validation"]["users"] > 0 and windows["test"]["users"] > 0
    chosen = summary["chosen"]
    best = max(runs, key=lambda r: (r["objectives"]["ndcg_lift"], -r["run"]))
    assert chosen["run"] == best["run"] and chosen["chosen_by"] == "ndcg_lift"
    assert chosen["validation"] == best["objectives"]
    test = chosen["test"]
    assert test["metrics"]["ndcg@10"] != best["metrics"]["ndcg@10"]  # another window
    assert test["guardrails"]["passed"] is True
    chosen_file = read(folder, f"run_{chosen['run']:03d}.json")
    assert chosen_file["chosen"] is True and chosen_file["test"] == test
    assert chosen_file["window"] == "validation"  # its own figures stay the validation ones
    assert all("test" not in r for r in runs if r["run"] != chosen["run"])
    report = (folder / "report.md").read_text()
    assert "scored on the test window" in report and "| ndcg@10 |" in report


def test_nothing_in_the_test_window_changes_a_choice(shop: NamespaceData, tmp_path: Path) -> None:
    """The real harness on the data and on a copy whose test window is scrambled: every
    validation figure and the choice are identical; only the test figures move."""
    first = sweep(shop, tmp_path / "a")
    second = sweep(with_test_window_scrambled(shop, seed=1), tmp_path / "b")
    for n in (1, 2, 3):
        a, b = read(first, f"run_{n:03d}.json"), read(second, f"run_{n:03d}.json")
        for key in ("metrics", "baseline", "objectives", "lift", "samples"):
            assert a[key] == b[key], (n, key)
    a, b = read(first, "summary.json")["chosen"], read(second, "summary.json")["chosen"]
    assert a["run"] == b["run"] and a["validation"] == b["validation"]
    assert a["test"]["metrics"] != b["test"]["metrics"]


def test_guardrails_judge_the_chosen_configuration_on_test(
    shop: NamespaceData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "analysis" / "results" / "tuning_runs"
    folder = sweep(shop, root)
    monkeypatch.chdir(tmp_path)
    floors = "defaults:\n  quality:\n    min_catalog_coverage: 0.0\n"
    (tmp_path / "guardrails.yml").write_text(floors)
    test_coverage = read(folder, "summary.json")["chosen"]["test"]["objectives"]["catalog_coverage"]
    runner = CliRunner()
    ok = runner.invoke(app, ["guardrails", "--namespace", "shop"])
    assert ok.exit_code == 0, ok.output
    assert "1 of 1 chosen configurations pass" in ok.output
    # A floor just above the chosen configuration's test coverage fails, whatever the
    # validation figures of the runs were.
    above = f"{test_coverage + 1e-4:.6f}"
    bad = runner.invoke(app, ["guardrails", "--namespace", "shop", "--min-coverage", above])
    assert bad.exit_code == 1, bad.output
    below = f"{test_coverage - 1e-4:.6f}"
    good = runner.invoke(app, ["guardrails", "--namespace", "shop", "--min-coverage", below])
    assert good.exit_code == 0, good.output

"""A tuning run's report: report.html is one self-contained file (charts inline, nothing
linked) with the chosen run's validation and test figures and every run; the NDCG chart has an
integer run axis and each run's 95% interval; runs on the same trade-off point share a label."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from matplotlib.container import ErrorbarContainer

from recsys.config.knobs import defaults
from recsys.offline.guardrails import Thresholds
from recsys.offline.synthetic import generate
from recsys.toolkit.tuning import TuningPlan, run_sweep
from recsys.toolkit.tuning_report import coinciding_labels, lift_chart

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generated = generate(n_items=100, n_users=120, n_events=4000, now=NOW, seed=5)
    data = generated.namespace_data()
    plan = TuningPlan(
        namespace="shop",
        # Runs 1 and 3 are the same configuration: the same point on the trade-off chart.
        configurations=[{"mmr_lambda": 0.5}, {"blend_delta": 0.6}, {"mmr_lambda": 0.5}],
        limit_users=50,
        seed=3,
    )
    thresholds = Thresholds(quality={"min_catalog_coverage": 0.0}, source="test")
    root = tmp_path_factory.mktemp("runs")
    return run_sweep(plan, data, base_knobs=defaults(), thresholds=thresholds, now=NOW, root=root)


def test_the_html_report_is_self_contained_and_complete(folder: Path) -> None:
    html = (folder / "report.html").read_text()
    summary = json.loads((folder / "summary.json").read_text())
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 2
    assert not re.search(r"""(?:src|href)=["'](?!data:)""", html)
    chosen = summary["chosen"]
    table = re.search(r'<table id="chosen">(.*?)</table>', html, re.S)
    assert table is not None
    for name, value in chosen["validation"].items():
        test_value = chosen["test"]["objectives"][name]
        assert f'<td>{name}</td><td class="num">{value:.4f}</td>' in table.group(1)
        assert f"{test_value:.4f}" in table.group(1)
    runs = re.search(r'<table id="runs">(.*?)</table>', html, re.S)
    assert runs is not None and runs.group(1).count("<tr class=") == 3
    assert "evidence.zip" in {p.name for p in folder.iterdir()}
    with __import__("zipfile").ZipFile(folder / "evidence.zip") as bundle:
        assert "report.html" in bundle.namelist()


def test_the_lift_chart_has_integer_runs_and_intervals(folder: Path) -> None:
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("run_*.json"))]
    figure = lift_chart(runs)
    ax = figure.axes[0]
    figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()
    for run, segment in zip(runs, segments, strict=True):
        lift = run["lift"]["ndcg@10"]
        (_, low), (_, high) = segment
        assert low == pytest.approx(lift["ci95_low"]) and high == pytest.approx(lift["ci95_high"])


def test_runs_on_one_point_share_one_label() -> None:
    labels = coinciding_labels([(1, 0.5, 0.2), (3, 0.5, 0.2), (2, 0.4, 0.1), (4, 0.5004, 0.2)])
    assert sorted(label for label, _, _ in labels) == ["1, 3, 4", "2"]

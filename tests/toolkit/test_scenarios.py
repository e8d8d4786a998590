"""`recsys scenarios` (run_scenarios.py) against a real server and a seeded shop: every scenario
passes and leaves evidence and no rules behind; a scenario can fail; bad input exits with 2."""

from __future__ import annotations

import csv
import json
import math
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from recsys.cli.main import app
from recsys.client import RecsysClient
from recsys.testing.server import running_server
from recsys.toolkit.data import seed_namespace
from recsys.toolkit.scenarios import SCENARIOS, check, item_features, jaccard

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "scenario_shop"


@dataclass(frozen=True)
class Shop:
    base_url: str
    org_id: str


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    workdir = tmp_path_factory.mktemp("scenarios")
    org_id = str(uuid.uuid4())
    with (
        running_server(f"sqlite:///{workdir}/db.sqlite", workdir=workdir) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.chdir(workdir)  # the seed's own evidence lands here
        with RecsysClient(server.base_url, org_id) as api:
            seed_namespace(
                api,
                NAMESPACE,
                users=200,
                events=8000,
                items=150,
                seed=7,
                now=datetime.now(UTC).replace(microsecond=0),
            )
        yield Shop(server.base_url, org_id)


def run(shop: Shop, *args: str, namespace: str = NAMESPACE) -> Result:
    return CliRunner().invoke(
        app,
        [
            "scenarios",
            "--base-url",
            shop.base_url,
            "--org-id",
            shop.org_id,
            "--namespace",
            namespace,
            *args,
        ],
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "guardrails.yml", tmp_path / "guardrails.yml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_scenario_passes_and_leaves_evidence_but_no_rules(shop: Shop, workdir: Path) -> None:
    result = run(shop)
    assert result.exit_code == 0, result.output
    assert f"{len(SCENARIOS)} of {len(SCENARIOS)} scenarios pass" in result.output
    for sid, name in SCENARIOS.items():
        assert f"{sid} {name}" in result.output

    folders = sorted((workdir / "analysis" / "evidence").glob(f"scenarios_{NAMESPACE}_*"))
    assert len(folders) == 1
    folder = folders[0]
    report = json.loads((folder / "scenarios.json").read_text())
    assert [s["id"] for s in report["scenarios"]] == list(SCENARIOS)
    for scenario in report["scenarios"]:
        assert scenario["status"] == "PASS", scenario
        assert scenario["checks"] and scenario["measured"]
        for item in scenario["checks"]:
            assert item["value"] is not None and item["threshold"] is not None
    assert report["passed"] == len(SCENARIOS) and report["failed"] == 0
    by_id = {s["id"]: s for s in report["scenarios"]}
    # The S7 thresholds are the guardrails file's.
    s7 = {c["name"]: c for c in by_id["S7"]["checks"]}
    assert s7["avg MRR@10 of cold users' next events"]["threshold"] == 0.02
    assert s7["avg distinct categories in the top 10"]["threshold"] == 3
    assert by_id["S7"]["measured"]["cold_users"] > 0
    # The scenarios measured what they claim, not an empty list.
    assert by_id["S2"]["measured"]["tagged_items_before"] > 0
    assert by_id["S2"]["measured"]["tagged_items_after"] == 0
    assert by_id["S8"]["measured"]["share_after"] > by_id["S8"]["measured"]["share_before"]
    assert by_id["S10"]["measured"]["items"] > 0

    with (folder / "scenarios.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["scenario"] for r in rows} == set(SCENARIOS)
    assert all(r["status"] == "PASS" for r in rows)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"scenarios.csv", "scenarios.json"}
    assert manifest["tool"] == "run_scenarios"

    # Side-effect free: every rule a scenario made is gone, and the config never changed.
    effects = report["side_effects"]
    assert effects["clean"] and effects["rules_created"] >= 5
    assert effects["config_version_after"] == effects["config_version_before"]
    with RecsysClient(shop.base_url, shop.org_id) as api:
        assert api.list_all("/v1/admin/rules", "rules", namespace=NAMESPACE) == []


def test_a_scenario_fails_against_a_stricter_guardrail(shop: Shop, workdir: Path) -> None:
    strict = workdir / "strict.yml"
    strict.write_text(
        "defaults:\n  scenarios:\n    s7_min_avg_mrr: 0.99\n    s7_min_avg_categories: 3\n"
    )
    out = workdir / "out"
    result = run(shop, "--guardrails", str(strict), "--only", "S1,S7", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    assert "1 of 2 scenarios pass" in result.output
    report = json.loads((out / "scenarios.json").read_text())
    s1, s7 = report["scenarios"]
    assert s1["status"] == "PASS"
    assert s7["status"] == "FAIL"
    failed = [c for c in s7["checks"] if not c["passed"]]
    assert [c["threshold"] for c in failed] == [0.99]
    assert failed[0]["value"] < 0.99
    assert (out / "scenarios.csv").exists() and (out / "manifest.json").exists()


def test_an_empty_namespace_is_bad_input(shop: Shop, workdir: Path) -> None:
    result = run(shop, namespace="nothing_here")
    assert result.exit_code == 2
    assert "has no items" in result.output
    assert not (workdir / "analysis").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--guardrails", "missing.yml"], "not found"),
        (["--only", "S11"], "unknown scenario"),
    ],
)
def test_bad_options_exit_2(shop: Shop, workdir: Path, args: list[str], message: str) -> None:
    result = run(shop, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_checks_fail_on_missing_values() -> None:
    assert check("x", 0, "==", 0).passed
    assert check("x", 0.5, ">", 0).passed
    assert not check("x", 0.0, ">", 0).passed
    assert not check("x", None, ">=", 0).passed
    assert not check("x", math.nan, "<=", 1).passed


def test_similarity_uses_tags_and_category_levels() -> None:
    a = item_features({"tags": ["sale", "jazz"], "category": "vinyl", "category_path": ["music"]})
    b = item_features({"tags": ["jazz"], "category": "vinyl", "category_path": ["music", "vinyl"]})
    assert a == {"sale", "jazz", "category:vinyl", "category:music"}
    assert jaccard(a, b) == pytest.approx(3 / 4)
    assert jaccard(frozenset(), frozenset()) == 0.0

"""The live-ranking tools (simulate, determinism, load, rules-check, exposure, profile-coverage)
against one real server: exit codes, evidence, and checks that do fail when they should."""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from recsys.cli.main import app, run_script
from recsys.client import RecsysClient
from recsys.testing.server import running_server
from recsys.toolkit.data import seed_namespace

ORG = "00000000-0000-0000-0000-00000000f001"
NS = "tools"
RULES_NS = "rulesns"

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RecsysClient]]:
    root = tmp_path_factory.mktemp("tools")
    with (
        running_server(f"sqlite:///{root / 'db.sqlite'}", workdir=root) as srv,
        RecsysClient(srv.base_url, ORG) as api,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.chdir(root)  # the seed's own evidence lands here, not in the repository
        now = datetime.now(UTC)
        for namespace in (NS, RULES_NS):
            seed_namespace(api, namespace, users=150, events=6000, items=120, seed=7, now=now)
        yield srv.base_url, api


@pytest.fixture
def run(server: tuple[str, RecsysClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Invoke `recsys <verb> --base-url ... --org-id ... --namespace ...` in a fresh directory."""
    monkeypatch.chdir(tmp_path)
    base_url = server[0]

    def invoke(verb: str, *args: str, namespace: str = NS, base: str | None = None) -> Result:
        common = ["--base-url", base or base_url, "--org-id", ORG, "--namespace", namespace]
        return CliRunner().invoke(app, [verb, *common, *args])

    return invoke


def evidence(tmp_path: Path, tool: str, namespace: str = NS) -> list[Path]:
    return sorted((tmp_path / "analysis" / "evidence").glob(f"{tool}_{namespace}_*"))


def only_evidence(tmp_path: Path, tool: str, script: str, namespace: str = NS) -> Path:
    """The one evidence folder of the run; its manifest names the script and hashes each file."""
    folders = evidence(tmp_path, tool, namespace)
    assert len(folders) == 1, folders
    folder = folders[0]
    assert re.fullmatch(rf"{tool}_{namespace}_\d{{8}}T\d{{6}}Z", folder.name)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tool"] == script
    assert manifest["namespace"] == namespace
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    return folder


def read(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


# --- simulate ---------------------------------------------------------------------------------


def test_simulate_pushes_idempotent_clicks(
    run: Run, server: tuple[str, RecsysClient], tmp_path: Path
) -> None:
    args = ("--users", "8", "--steps", "2", "--seed", "5", "--step-pause-ms", "0")
    first = run("simulate", *args)
    assert first.exit_code == 0, first.output
    assert "per-step ctr" in first.output
    report = read(only_evidence(tmp_path, "simulate", "run_simulation"), "simulation.json")
    assert report["mode"] == "single"
    [sim] = report["runs"]
    assert [s["step"] for s in sim["per_step"]] == [1, 2]
    assert sim["lists"] == 16 and sim["impressions"] == 16 * 10
    assert 0 <= sim["clicks"] <= 16
    assert sim["ctr"] == pytest.approx(sim["clicks"] / sim["impressions"], abs=1e-6)
    assert sim["events"]["events"] == sim["clicks"] == sim["events"]["inserted"]

    second = run("simulate", *args)
    assert second.exit_code == 0, second.output
    again = read(sorted(evidence(tmp_path, "simulate"))[-1], "simulation.json")["runs"][0]["events"]
    api = server[1]
    stored = [e for e in api.pages("events", NS) if str(e["event_id"] or "").startswith("sim-5-")]
    assert stored, "the clicks were not pushed"
    for event in stored:
        assert re.fullmatch(r"sim-5-user-\d+-[12]", event["event_id"])
        assert event["type"] == 1 and event["meta"]["source"] == "simulation"
    # Re-running pushes the same ids for the same (user, step): nothing is stored twice.
    assert len({e["event_id"] for e in stored}) == len(stored)
    assert len(stored) == sim["events"]["inserted"] + again["inserted"]
    assert again["events"] == again["inserted"] + again["duplicates"]


def test_simulate_batch_reports_ctr_per_configuration_and_step(run: Run, tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps([{}, {"mmr_lambda": 0.3, "popularity_fanout": 50}]))
    result = run(
        "simulate",
        "--batch",
        "--seeds",
        "1,2",
        "--overrides-json",
        f"@{overrides}",
        "--users",
        "6",
        "--steps",
        "3",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "best CTR: run" in result.output
    report = read(only_evidence(tmp_path, "simulate", "run_simulation"), "simulation.json")
    assert report["mode"] == "batch" and report["dry_run"] is True
    runs = report["runs"]
    assert [(r["run"], r["config"]["seed"]) for r in runs] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert runs[1]["config"]["overrides"] == {"mmr_lambda": 0.3, "popularity_fanout": 50}
    for r in runs:
        assert len(r["per_step"]) == 3
        assert 0.0 <= r["ctr"] <= 1.0
        assert r["events"] == {"events": 0, "inserted": 0, "duplicates": 0}
        assert set(r["per_segment"]) <= {
            "power_users",
            "new_users",
            "niche_readers",
            "trend_seekers",
            "weekend_adventurers",
        }
    assert report["best"] in {1, 2, 3, 4}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--overrides-json", "[{}, {}]"), "--batch"),
        (("--overrides-json", '{"mmr_lambda": 7}'), "mmr_lambda"),
        (("--overrides-json", "{not json"), "not valid JSON"),
        (("--batch", "--overrides-json", "[1]"), "JSON object"),
    ],
)
def test_simulate_rejects_bad_input(
    run: Run, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run("simulate", "--users", "3", "--steps", "1", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not evidence(tmp_path, "simulate")


def test_tools_refuse_an_empty_namespace(run: Run, tmp_path: Path) -> None:
    for verb in ("simulate", "determinism", "exposure", "profile-coverage"):
        result = run(verb, "--users", "3", namespace="nobody-here")
        assert result.exit_code == 2, (verb, result.output)
        assert "seed it first" in result.output
    assert not (tmp_path / "analysis").exists()


# --- determinism ------------------------------------------------------------------------------


def test_determinism_holds_on_the_server(run: Run, tmp_path: Path) -> None:
    result = run("determinism", "--users", "4", "--repeats", "2", "--k", "15")
    assert result.exit_code == 0, result.output
    report = read(only_evidence(tmp_path, "determinism", "check_determinism"), "determinism.json")
    assert report["passed"] is True
    assert report["as_of"] is not None  # the clock is pinned by default
    assert [c["user_id"] is None for c in report["cases"]] == [False] * 4 + [True]
    assert report["requests"] == 5 * 2 * 2
    assert all(len(c["items"]) == 15 and c["identical"] for c in report["cases"])


class _FakeRanker(BaseHTTPRequestHandler):
    """A broken ranker: random scores (mode "random"), or answers that depend on the request's
    bytes, hence on its JSON key order (mode "key_order")."""

    mode = "random"

    def _send(self, payload: Any, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        users = [{"user_id": f"u{n}", "traits": {"segment": "x"}} for n in range(3)]
        self._send({"users": users})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        rng = random.Random(raw) if self.mode == "key_order" else random.Random()
        order = rng.sample(range(10), 5)
        self._send(
            {
                "items": [
                    {"item_id": f"i{n}", "score": round(rng.random(), 6), "rank": r}
                    for r, n in enumerate(order, start=1)
                ],
                "decision_id": uuid.uuid4().hex,
                "model_version": "fake",
                "config_version": 0,
                "warnings": [],
                "trace": {"extras": {}},
            }
        )

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_ranker() -> Iterator[Callable[[str], str]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(mode: str) -> str:
        handler = type("Handler", (_FakeRanker,), {"mode": mode})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("mode", "kinds"), [("random", {"repeat"}), ("key_order", set())])
def test_determinism_catches_a_nondeterministic_ranker(
    run: Run,
    tmp_path: Path,
    fake_ranker: Callable[[str], str],
    mode: str,
    kinds: set[str],
) -> None:
    result = run("determinism", "--repeats", "3", base=fake_ranker(mode))
    assert result.exit_code == 1, result.output
    assert "DIFF" in result.output and "FAIL" in result.output
    report = read(only_evidence(tmp_path, "determinism", "check_determinism"), "determinism.json")
    assert report["passed"] is False
    assert len(report["nondeterministic_users"]) == 4  # three users and the anonymous request
    seen = {m["kind"] for case in report["cases"] for m in case["mismatches"]}
    # Identical bytes give identical answers in key_order mode: only the shuffled sends differ.
    assert seen == kinds | {"shuffled_keys"}
    assert any(
        p.startswith("$.items")
        for case in report["cases"]
        for m in case["mismatches"]
        for p in m["paths"]
    )


# --- load -------------------------------------------------------------------------------------


def test_load_reports_throughput_and_latency(run: Run, tmp_path: Path) -> None:
    result = run("load", "--requests", "60", "--concurrency", "4", "--users", "20")
    assert result.exit_code == 0, result.output
    assert "req/s" in result.output and "p99" in result.output
    report = read(only_evidence(tmp_path, "load", "recommendations_load"), "load.json")
    assert report["requests"] == 60 and report["ok"] == 60 and report["errors"] == 0
    assert report["passed"] is True and report["requests_per_s"] > 0
    lat = report["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert sum(report["per_worker_requests"]) == 60


def test_load_fails_over_the_p99_budget(run: Run, tmp_path: Path) -> None:
    result = run("load", "--requests", "20", "--concurrency", "2", "--max-p99-ms", "0.001")
    assert result.exit_code == 1, result.output
    assert "FAIL p99" in result.output
    report = read(only_evidence(tmp_path, "load", "recommendations_load"), "load.json")
    assert report["passed"] is False and report["errors"] == 0


@pytest.mark.parametrize(
    ("base", "args", "message"),
    [
        ("http://203.0.113.5:8000", ("--requests", "5"), "not a loopback host"),
        (None, ("--duration", "0"), "--duration"),
        (None, ("--requests", "5", "--overrides", '{"mmr_lambda": 9}'), "mmr_lambda"),
    ],
)
def test_load_rejects_bad_input(
    run: Run, tmp_path: Path, base: str | None, args: tuple[str, ...], message: str
) -> None:
    result = run("load", *args, base=base)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not evidence(tmp_path, "load")


# --- rules-check ------------------------------------------------------------------------------


def test_rules_check_without_rules_has_nothing_to_check(run: Run, tmp_path: Path) -> None:
    result = run("rules-check", "--users", "2")
    assert result.exit_code == 0, result.output
    assert "no enabled rules" in result.output
    report = read(only_evidence(tmp_path, "rules_check", "test_rules"), "rules_check.json")
    assert report["rules"] == [] and report["passed"] is True


def test_rules_check_verifies_contracts_and_flags_a_violation(
    run: Run, server: tuple[str, RecsysClient], tmp_path: Path
) -> None:
    api = server[1]
    items = list(api.pages("items", RULES_NS))
    brands = sorted({i["brand"] for i in items if i["brand"]})
    popular = api.recommend(RULES_NS, k=200)["items"]
    top_brand = next(i["brand"] for i in items if i["item_id"] == popular[0]["item_id"])
    brand_of = {i["item_id"]: i["brand"] for i in items}
    # Far from the top without the rule, and not of the blocked brand (BLOCK beats PIN).
    pin_item = next(i["item_id"] for i in popular[40:] if brand_of[i["item_id"]] != top_brand)
    tag = sorted({t for i in items for t in i["tags"]})[0]
    tags_of = {i["item_id"]: set(i["tags"]) for i in items}
    # The least favoured available item that no other rule touches.
    last_item = next(
        i["item_id"]
        for i in reversed(popular)
        if brand_of[i["item_id"]] != top_brand and tag not in tags_of[i["item_id"]]
    )
    assert top_brand in brands

    def add(**rule: Any) -> str:
        return str(api.post("/v1/admin/rules", {"namespace": RULES_NS, **rule})["rule_id"])

    block = add(name="block top brand", action="BLOCK", target_type="BRAND", target_key=top_brand)
    pin = add(name="pin", action="PIN", target_type="ITEM", item_ids=[pin_item], position=3)
    boost = add(name="boost tag", action="BOOST", target_type="TAG", target_key=tag, boost_value=2)
    result = run("rules-check", "--users", "4", "--k", "10", namespace=RULES_NS)
    assert result.exit_code == 0, result.output
    report = read(
        only_evidence(tmp_path, "rules_check", "test_rules", RULES_NS), "rules_check.json"
    )
    status = {r["rule_id"]: r for r in report["rules"]}
    assert {status[i]["status"] for i in (block, pin, boost)} == {"pass"}
    assert all(p["status"] == "pass" for p in status[pin]["probes"])
    assert any(p["details"]["matching_in_top_k_without_rules"] for p in status[block]["probes"])

    # A zero boost on the least favoured item can neither place it nor promote it.
    zero = add(
        name="zero boost", action="BOOST", target_type="ITEM", item_ids=[last_item], boost_value=0
    )
    result = run("rules-check", "--users", "4", "--k", "10", "--depth", "200", namespace=RULES_NS)
    assert result.exit_code == 1, result.output
    assert f"FAIL rule {zero} (BOOST)" in result.output
    report = read(sorted(evidence(tmp_path, "rules_check", RULES_NS))[-1], "rules_check.json")
    status = {r["rule_id"]: r for r in report["rules"]}
    assert status[zero]["status"] == "violation"
    assert report["summary"]["violation"] == 1 and report["passed"] is False
    anonymous = next(p for p in status[zero]["probes"] if p["user_id"] is None)
    assert anonymous["status"] == "violation"
    assert (
        anonymous["details"]["best_rank_score_order"]
        == (anonymous["details"]["best_rank_score_order_rules_off"])
    )


# --- exposure ---------------------------------------------------------------------------------


def test_exposure_writes_json_and_chart(run: Run, tmp_path: Path) -> None:
    result = run("exposure", "--users", "40", "--surfaces", "home,pdp", "--k", "5")
    assert result.exit_code == 0, result.output
    assert "Gini" in result.output
    folder = only_evidence(tmp_path, "exposure", "exposure_dashboard")
    assert (folder / "exposure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "exposure.png" in read(folder, "manifest.json")["files"]
    report = read(folder, "exposure.json")
    overall = report["overall"]
    assert overall["lists"] == 80 and overall["slots"] == 400
    assert 0.0 < overall["gini_item_exposure"] < 1.0
    assert overall["catalogue_share_exposed"] == pytest.approx(overall["distinct_items"] / 120)
    assert len(overall["top_items"]) == 10
    counts = [i["count"] for i in overall["top_items"]]
    assert counts == sorted(counts, reverse=True)
    assert sum(report["item_counts"].values()) == 400
    assert sum(c["count"] for c in overall["categories"]) == 400
    assert set(report["per_surface"]) == {"home", "pdp"}


def test_exposure_fails_its_thresholds(run: Run, tmp_path: Path) -> None:
    result = run("exposure", "--users", "20", "--max-gini", "0", "--min-catalog-share", "1")
    assert result.exit_code == 1, result.output
    assert "FAIL Gini" in result.output and "FAIL catalogue share" in result.output
    report = read(only_evidence(tmp_path, "exposure", "exposure_dashboard"), "exposure.json")
    assert report["passed"] is False and len(report["problems"]) == 2


# --- profile-coverage -------------------------------------------------------------------------


def test_profile_coverage_per_segment(run: Run, tmp_path: Path) -> None:
    result = run("profile-coverage", "--users", "60")
    assert result.exit_code == 0, result.output
    assert "PROFILE_MIN_EVENTS_FOR_BOOST = 3" in result.output
    report = read(
        only_evidence(tmp_path, "profile_coverage", "profile_coverage"), "profile_coverage.json"
    )
    assert report["profile_min_events_for_boost"] == 3
    overall, segments = report["overall"], report["per_segment"]
    assert overall["users"] == 60 == sum(s["users"] for s in segments.values())
    assert 0.0 < overall["personalised_share"] < 1.0
    for row in report["users"]:
        assert row["personalised"] == (row["event_count"] >= 3)
        assert 1 <= row["distinct_categories"] <= 10
    new = segments["new_users"]
    assert new["cold"] > 0 and new["cold_starter_share"] > 0
    assert segments["power_users"]["personalised_share"] == 1.0
    assert overall["cold_with_starter"] == sum(s["cold_with_starter"] for s in segments.values())


def test_profile_coverage_fails_its_thresholds(run: Run, tmp_path: Path) -> None:
    result = run(
        "profile-coverage",
        "--users",
        "20",
        "--min-avg-categories",
        "50",
        "--min-personalised-share",
        "1.01",
    )
    assert result.exit_code == 1, result.output
    assert "FAIL avg distinct categories" in result.output
    assert "FAIL personalised share" in result.output


# --- the analysis scripts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "script"),
    [
        ("simulate", "run_simulation.py"),
        ("determinism", "check_determinism.py"),
        ("load", "recommendations_load.py"),
        ("rules-check", "test_rules.py"),
        ("exposure", "exposure_dashboard.py"),
        ("profile-coverage", "profile_coverage.py"),
        ("ship", "ship.py"),
    ],
)
def test_scripts_wrap_their_verbs(
    verb: str, script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = (Path(__file__).parents[2] / "analysis" / "scripts" / script).read_text()
    assert f'run_script(["{verb}"], sys.argv[1:])' in source
    with pytest.raises(SystemExit) as exit_info:
        run_script([verb], ["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--base-url", "--org-id", "--namespace", "--insecure"):
        assert flag in help_text

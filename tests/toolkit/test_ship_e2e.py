"""`recsys ship` end to end: a real server, a seeded shop per namespace, a real tuning run of
the candidate, simulated users (the toolkit's simulator, seeded) clicking through the lists, and
the rewards flowing from their click events. A better candidate is promoted, a worse one rolled
back, a neutral one ends undecided at its budget, a guardrail failure is refused before any
traffic, and a canary survives a crash of its server. Each asserts the config version and the
canary's trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from recsys.cli.main import app
from recsys.client import RecsysClient
from recsys.config.knobs import defaults
from recsys.offline.guardrails import Thresholds
from recsys.testing.server import ServerProcess, running_server
from recsys.toolkit.data import fetch_namespace, seed_namespace
from recsys.toolkit.simulation import configurations, simulate
from recsys.toolkit.tuning import TuningPlan, run_sweep

pytestmark = pytest.mark.slow

ORG = "00000000-0000-0000-0000-00000000f017"
LENIENT = "defaults:\n  quality:\n    min_catalog_coverage: 0.0\n"
STRICT = "defaults:\n  quality:\n    min_catalog_coverage: 0.99\n"
# Found with the simulator on this shop (seed 11, dry run): list CTR about 0.44 with the
# default knobs, 0.30 with heavy diversification (mmr_lambda 0.1), 0.48 with a stronger
# personal boost on top of the defaults.
DIVERSE = {"mmr_lambda": 0.1}
PERSONAL = {"mmr_lambda": 0.7, "profile_boost": 0.9}
RULE = ("--traffic-share", "0.5", "--min-decisions", "100", "--look-every", "25")


@dataclass
class Shop:
    server: ServerProcess
    api: RecsysClient
    root: Path
    database_url: str


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("ship")
    url = f"sqlite:///{root / 'db.sqlite'}"
    with (
        running_server(url, workdir=root) as server,
        RecsysClient(server.base_url, ORG) as api,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.chdir(root)  # evidence and tuning runs land here, not in the repository
        yield Shop(server, api, root, url)


def seeded(shop: Shop, namespace: str, incumbent: dict[str, Any] | None) -> None:
    seed_namespace(
        shop.api, namespace, users=200, events=6000, items=120, seed=11, now=datetime.now(UTC)
    )
    if incumbent is not None:
        shop.api.set_config(namespace, incumbent, author="test", notes="incumbent")


def tuned(shop: Shop, namespace: str, candidate: dict[str, Any]) -> Path:
    """A real tuning run of the namespace's data whose only (so chosen) configuration is the
    candidate."""
    data = fetch_namespace(shop.api, namespace)
    plan = TuningPlan(namespace=namespace, configurations=[candidate], limit_users=60, seed=5)
    lenient = Thresholds(quality={"min_catalog_coverage": 0.0}, source="test")
    return run_sweep(
        plan,
        data,
        base_knobs=defaults(),
        thresholds=lenient,
        now=datetime.now(UTC),
        root=shop.root / "tuning_runs",
    )


def ship(shop: Shop, namespace: str, *args: str, base_url: str | None = None) -> Result:
    common = ["--base-url", base_url or shop.server.base_url, "--org-id", ORG]
    return CliRunner().invoke(app, ["ship", *common, "--namespace", namespace, *args])


def guardrails(shop: Shop, text: str) -> str:
    path = shop.root / f"guardrails-{abs(hash(text))}.yml"
    path.write_text(text)
    return str(path)


def started(shop: Shop, namespace: str, run_dir: Path, *args: str) -> str:
    result = ship(
        shop,
        namespace,
        "--run-dir",
        str(run_dir),
        "--guardrails",
        guardrails(shop, LENIENT),
        *RULE,
        *args,
    )
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("canary "))
    return line.split()[1]


def status(shop: Shop, canary_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = shop.api.get(f"/v1/ship/canaries/{canary_id}")
    return answer


def traffic(shop: Shop, namespace: str, canary_id: str, *, rounds: int, users: int = 150) -> None:
    """Rounds of simulated users (a new seed each) until the canary ends or the rounds do. How
    many rounds a verdict takes varies a little (the signals refresh with the clicks on their
    own schedule, so the lists do too): the bound is generous and the loop stops at the end."""
    for round_seed in range(rounds):
        if status(shop, canary_id)["status"] != "running":
            return
        simulate(
            shop.api,
            namespace,
            configurations([100 + round_seed], []),
            users=users,
            steps=1,
            k=10,
            surface="home",
            clock=lambda: datetime.now(UTC),
        )


def config_version(shop: Shop, namespace: str) -> int:
    return int(shop.api.config(namespace)["version"])


def kinds(canary: dict[str, Any]) -> list[str]:
    return [step["kind"] for step in canary["steps"]]


def test_a_better_candidate_is_promoted(shop: Shop) -> None:
    seeded(shop, "better", incumbent=DIVERSE)
    # A namespace-level knob at the value in force is no change: the canary serves the rest.
    run_dir = tuned(shop, "better", {**PERSONAL, "popularity_halflife_days": 14})
    canary_id = started(shop, "better", run_dir, "--budget", "6000")
    assert status(shop, canary_id)["overrides"] == PERSONAL
    traffic(shop, "better", canary_id, rounds=30)
    canary = status(shop, canary_id)
    assert canary["status"] == "promoted", canary["reason"]
    assert canary["promoted_version"] == 2 and config_version(shop, "better") == 2
    current = shop.api.config("better")
    assert current["explicit"] == PERSONAL
    notes = json.loads(current["metadata"]["notes"])
    assert notes["canary_id"] == canary_id and notes["run"]["run_dir"] == str(run_dir)
    assert notes["p_candidate_better"] >= 0.95
    trail = kinds(canary)
    assert trail[0] == "started" and trail[-1] == "promoted" and set(trail[1:-1]) == {"look"}
    assert all(arm["rewards"] > 0 for arm in canary["arms"])


def test_a_worse_candidate_is_rolled_back(shop: Shop) -> None:
    seeded(shop, "worse", incumbent=None)
    run_dir = tuned(shop, "worse", DIVERSE)
    canary_id = started(shop, "worse", run_dir, "--budget", "6000")
    traffic(shop, "worse", canary_id, rounds=30)
    canary = status(shop, canary_id)
    assert canary["status"] == "rolled_back", canary["reason"]
    assert canary["reason"].startswith("P(candidate worse)")
    assert config_version(shop, "worse") == 0
    assert kinds(canary)[-1] == "rolled_back" and canary["steps"][-2]["verdict"] == "rollback"


def test_a_neutral_candidate_ends_without_a_decision(shop: Shop) -> None:
    seeded(shop, "neutral", incumbent=None)
    # A hair from the default personal boost: the lists hardly change.
    run_dir = tuned(shop, "neutral", {"profile_boost": 0.51})
    canary_id = started(shop, "neutral", run_dir, "--budget", "400", "--confidence", "0.99")
    traffic(shop, "neutral", canary_id, rounds=4)
    canary = status(shop, canary_id)
    assert canary["status"] == "no_decision", canary["reason"]
    assert sum(arm["decisions"] for arm in canary["arms"]) == 400
    assert config_version(shop, "neutral") == 0
    assert kinds(canary)[-1] == "no_decision"


def test_a_guardrail_failure_is_refused_before_any_traffic(shop: Shop) -> None:
    seeded(shop, "refused", incumbent=None)
    run_dir = tuned(shop, "refused", PERSONAL)
    result = ship(
        shop, "refused", "--run-dir", str(run_dir), "--guardrails", guardrails(shop, STRICT)
    )
    assert result.exit_code == 1
    assert "refused:" in result.output and "guardrail min_catalog_coverage" in result.output
    assert shop.api.get("/v1/ship/canaries", namespace="refused")["canaries"] == []
    answer = shop.api.recommend("refused", user_id="user-00001", surface="home", k=5)
    assert "canary" not in answer and config_version(shop, "refused") == 0


def test_bad_input_changes_nothing(shop: Shop) -> None:
    seeded(shop, "busy", incumbent=None)
    run_dir = tuned(shop, "busy", PERSONAL)
    lenient = guardrails(shop, LENIENT)
    missing = ship(shop, "busy", "--run-dir", str(shop.root / "nope"), "--guardrails", lenient)
    assert missing.exit_code == 1 and "holds no summary.json" in missing.output
    other = ship(shop, "better", "--run-dir", str(run_dir), "--guardrails", lenient)
    assert other.exit_code == 1 and "was tuned on namespace 'busy'" in other.output
    fixed = tuned(shop, "busy", {"popularity_halflife_days": 7})
    refused = ship(shop, "busy", "--run-dir", str(fixed), "--guardrails", lenient)
    assert refused.exit_code == 1
    assert "changes namespace-level knobs popularity_halflife_days" in refused.output
    canary_id = started(shop, "busy", run_dir)
    again = ship(shop, "busy", "--run-dir", str(run_dir), "--guardrails", lenient)
    assert again.exit_code == 1 and f"canary {canary_id} already runs" in again.output
    listed = shop.api.get("/v1/ship/canaries", namespace="busy")["canaries"]
    assert [c["canary_id"] for c in listed] == [canary_id]
    stopped = CliRunner().invoke(
        app,
        ["ship", "stop", canary_id, "--base-url", shop.server.base_url, "--org-id", ORG],
    )
    assert stopped.exit_code == 0, stopped.output
    assert status(shop, canary_id)["status"] == "stopped" and config_version(shop, "busy") == 0


def test_a_canary_survives_a_crash_of_its_server(shop: Shop) -> None:
    seeded(shop, "crash", incumbent=DIVERSE)
    run_dir = tuned(shop, "crash", PERSONAL)
    canary_id = started(shop, "crash", run_dir, "--budget", "3000", "--min-decisions", "1000")
    traffic(shop, "crash", canary_id, rounds=2)
    before = status(shop, canary_id)
    assert before["status"] == "running" and sum(a["decisions"] for a in before["arms"]) == 300
    shop.server.kill_hard()
    with (
        running_server(shop.database_url, workdir=shop.root) as restarted,
        RecsysClient(restarted.base_url, ORG) as api,
    ):
        after = api.get(f"/v1/ship/canaries/{canary_id}")
        for key in ("status", "arms", "holdout", "p_candidate_better", "decisions_left"):
            assert after[key] == before[key], key
        assert after["steps"] == before["steps"]
        simulate(
            api,
            "crash",
            configurations([200], []),
            users=150,
            steps=1,
            k=10,
            surface="home",
            clock=lambda: datetime.now(UTC),
        )
        resumed = api.get(f"/v1/ship/canaries/{canary_id}")
        assert sum(a["decisions"] for a in resumed["arms"]) == 450
        assert len(resumed["steps"]) == len(before["steps"]) + 6  # a look every 25 decisions
        status_cli = CliRunner().invoke(
            app, ["ship", "status", canary_id, "--base-url", restarted.base_url, "--org-id", ORG]
        )
        assert status_cli.exit_code == 0 and "candidate" in status_cli.output

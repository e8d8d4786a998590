"""`recsys bandit-simulate` and its analysis/scripts wrapper: JSON + PNG, sublinear regret."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from recsys.bandit.simulation import simulate_all
from recsys.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def test_simulation_writes_json_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        app, ["bandit-simulate", "--rounds", "1000", "--seed", "3", "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "thompson" in result.output and "ucb1" in result.output
    document = json.loads((out / "bandit_simulation.json").read_text())
    assert document["payoffs"] == [0.2, 0.5, 0.8] and document["best_arm"] == 2
    assert set(document["algorithms"]) == {"thompson", "ucb1"}
    for name, run in document["algorithms"].items():
        regret = run["cumulative_regret"]
        assert len(regret) == 1000, name
        assert all(b >= a for a, b in itertools.pairwise(regret)), name
        assert sum(run["pulls"]) == 1000
        assert run["pulls"][2] == max(run["pulls"])
        # Sublinear: the second 500 rounds cost less than the first 500.
        assert run["regret_second_half"] < run["regret_first_half"], name
    thompson = document["algorithms"]["thompson"]
    assert thompson["regret_second_half"] < 0.5 * thompson["regret_first_half"]
    assert (out / "bandit_regret.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_run(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = CliRunner().invoke(
            app,
            [
                "bandit-simulate",
                "--rounds",
                "200",
                "--payoffs",
                "0.1,0.9",
                "--seed",
                "11",
                "--output-dir",
                str(tmp_path / name),
            ],
        )
        assert result.exit_code == 0, result.output
    first, second = (
        json.loads((tmp_path / n / "bandit_simulation.json").read_text()) for n in ("a", "b")
    )
    assert first == second


def test_the_server_functions_regret_sublinearly() -> None:
    runs = simulate_all((0.2, 0.5, 0.8), 1000, seed=1)
    for run in runs.values():
        assert run.regret_between(501, 1000) < run.regret_between(1, 500)
        assert run.regret_between(1, 1000) == float(run.cumulative_regret[-1])


def test_bad_input_exits_2(tmp_path: Path) -> None:
    for payoffs in ("0.5", "0.2,1.5", "a,b", "nan,0.5"):
        result = CliRunner().invoke(
            app, ["bandit-simulate", "--payoffs", payoffs, "--output-dir", str(tmp_path)]
        )
        assert result.exit_code == 2, (payoffs, result.output)
    result = CliRunner().invoke(app, ["bandit-simulate", "--rounds", "0"])
    assert result.exit_code == 2
    assert not (tmp_path / "bandit_simulation.json").exists()


def test_the_analysis_script_wraps_the_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "analysis" / "scripts" / "bandit_simulation.py"),
            "--rounds",
            "50",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "bandit_simulation.json").exists()
    assert (tmp_path / "bandit_regret.png").exists()

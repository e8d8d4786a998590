"""The user's playbook, run word for word against a real server: every command block of
../shared/seed/tuning_playbook.md, in order, with only the base URL pointed at the test
server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.testing.server import running_server

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT.parent / "shared" / "seed" / "tuning_playbook.md"


def command_blocks() -> list[str]:
    text = PLAYBOOK.read_text()
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


@pytest.mark.skipif(not PLAYBOOK.exists(), reason=f"{PLAYBOOK} not present")
def test_the_playbook_runs_word_for_word(tmp_path: Path) -> None:
    shutil.copy(ROOT / "guardrails.yml", tmp_path / "guardrails.yml")
    shutil.copytree(ROOT / "analysis" / "scripts", tmp_path / "analysis" / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `python` in the playbook means the project's environment.
    wrapper = bin_dir / "python"  # a wrapper, not a symlink: the venv is found from the path
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    with running_server(f"sqlite:///{tmp_path / 'db.sqlite'}", workdir=tmp_path) as server:
        blocks = command_blocks()
        assert len(blocks) >= 7
        script = "set -euo pipefail\n" + "\n".join(blocks)
        script = script.replace("http://localhost:8000", server.base_url)
        out = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"

    runs = sorted((tmp_path / "analysis" / "results" / "tuning_runs").glob("demo_*"))
    assert runs, "the tuning harness wrote no run folder"
    folder = runs[-1]
    for name in ("summary.json", "run_001.json", "report.md", "tradeoff.png", "evidence.zip"):
        assert (folder / name).exists(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["aliases"] == ["tune_seg_power_users"]
    assert len(summary["runs"]) == 3
    suggestions = json.loads(
        (tmp_path / "analysis" / "results" / "next_suggestions.json").read_text()
    )
    assert len(suggestions["suggestions"]) == 5
    for s in suggestions["suggestions"]:
        c = s["config"]
        assert 0.3 <= c["blend_alpha"] <= 0.5 and 0.4 <= c["blend_beta"] <= 0.6
        assert 0.1 <= c["blend_gamma"] <= 0.3 and 0.15 <= c["mmr_lambda"] <= 0.35
        assert 400 <= c["popularity_fanout"] <= 800
    assert (tmp_path / "analysis" / "env_profiles" / "demo" / "sweep_baseline.json").exists()

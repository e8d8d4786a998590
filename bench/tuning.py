"""Tuning-harness benchmark: the playbook's full grid (2^7 = 128 configurations) on the
playbook's data (600 users, 40,000 events) with the local engine.

    .venv/bin/python bench/tuning.py [--limit-users 150] [--output FILE]

Starts a throwaway server on SQLite, seeds it, runs `recsys tune --grid` and prints JSON with
the harness's own timing (evaluation of all runs) and the wall time of the whole command."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from recsys.client import RecsysClient
from recsys.testing.server import running_server
from recsys.toolkit.data import seed_namespace

ROOT = Path(__file__).resolve().parents[1]
GRID = [
    "--alphas",
    "0.32,0.38",
    "--betas",
    "0.44,0.50",
    "--gammas",
    "0.18,0.24",
    "--mmrs",
    "0.18,0.26",
    "--fanouts",
    "450,650",
    "--profile-boosts",
    "0.6,0.75",
    "--starter-blend-weights",
    "0.7,0.9",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--events", type=int, default=40000)
    parser.add_argument("--limit-users", type=int, default=150)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    org = "00000000-0000-0000-0000-0000000000b1"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "guardrails.yml", work / "guardrails.yml")
        with running_server(f"sqlite:///{work / 'db.sqlite'}", workdir=work) as server:
            with RecsysClient(server.base_url, org) as client:
                cwd = os.getcwd()
                os.chdir(work)
                try:
                    seed_namespace(
                        client,
                        "demo",
                        users=args.users,
                        events=args.events,
                        items=None,
                        seed=2025,
                        now=datetime.now(UTC),
                    )
                finally:
                    os.chdir(cwd)
            command = [
                sys.executable,
                str(ROOT / "analysis" / "scripts" / "tuning_harness.py"),
                "--base-url",
                server.base_url,
                "--org-id",
                org,
                "--namespace",
                "demo",
                "--grid",
                "--seed",
                "2025",
                *GRID,
                "--quality-limit-users",
                str(args.limit_users),
                "--engine",
                "local",
            ]
            started = time.perf_counter()
            subprocess.run(command, cwd=work, check=True, capture_output=True)
            wall = time.perf_counter() - started
        summary_path = next((work / "analysis" / "results" / "tuning_runs").glob("*/summary.json"))
        summary = json.loads(summary_path.read_text())
    result = {
        "benchmark": "tuning_grid",
        "configurations": len(summary["runs"]),
        "users": args.users,
        "events": args.events,
        "validation_users_evaluated": summary["windows"]["validation"]["users"],
        "test_users_evaluated": summary["windows"]["test"]["users"],
        "evaluation_seconds": summary["seconds"],
        "command_wall_seconds": round(wall, 2),
        "target_seconds": 60,
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join(["bench/tuning.py", *sys.argv[1:]]),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

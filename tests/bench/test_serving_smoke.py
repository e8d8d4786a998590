"""`bench/serving.py` (with its no-ranking ceiling) and `bench/catalogue_sweep.py` end to end on
a tiny shop, run as documented, so that the benchmarks do not rot between the real runs. The
figures themselves are not asserted (tests never assert timings), only what the report holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
TINY = ("--items", "200", "--users", "200", "--events", "3000")


def run(script: str, *args: str) -> dict:
    command = [sys.executable, str(BENCH / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    document: dict = json.loads(done.stdout)
    return document


@pytest.mark.slow
def test_serving_reports_its_share_of_the_ceiling() -> None:
    document = run(
        "serving.py",
        *TINY,
        *("--requests", "30", "--duration", "1", "--workers", "1", "--concurrency", "2"),
        *("--profile-requests", "0"),
    )
    assert document["in_process"]["requests"] == 30
    sweep = document["override_sweep"]
    assert sweep["knobs"] > 20 and sweep["requests"] == sweep["knobs"] * 2 * 30
    assert sweep["signals_built_on_the_request_path"] == []
    (served,) = document["http"]["runs"]
    (ceiling,) = document["http"]["ceiling"]["runs"]
    assert served["errors"] == 0 and ceiling["errors"] == 0
    assert (ceiling["workers"], ceiling["concurrency"]) == (1, 2)
    assert served["ceiling_requests_per_s"] == ceiling["requests_per_s"] > 0
    assert served["share_of_ceiling"] == round(
        served["requests_per_s"] / ceiling["requests_per_s"], 3
    )


def test_the_catalogue_sweep_reports_every_size() -> None:
    document = run("catalogue_sweep.py", "--sizes", "150:100:2000,300:100:3000", "--requests", "20")
    assert [(s["items"], s["events"]) for s in document["sizes"]] == [(150, 2000), (300, 3000)]
    assert document["p50_vs_first"][0] == 1.0 and len(document["p50_vs_first"]) == 2
    assert all(s["in_process"]["requests"] == 20 for s in document["sizes"])

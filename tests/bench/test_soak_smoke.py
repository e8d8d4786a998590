"""`bench/soak.py` end to end, shortened: a real server, every request kind, the report's shape.

The script is run as a subprocess, the way it is documented (`python bench/soak.py ...`), on a
small shop for 20 s after a 4 s recommend-only baseline, so that the benchmark does not rot
between the long runs made by hand. Figures are not asserted against the targets (tests never
assert timings), only that each target is reported."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
KINDS = ("recommend", "ingest", "config_read", "config_write", "item_upsert")
RATE, DURATION, WINDOW, BASELINE = 60, 20, 5, 4
TARGETS = (
    "errors_zero",
    "rss_growth_le_10pct",
    "recommend_p99_le_50ms",
    "config_read_p99_le_20ms",
    "throughput_ratio_ge_80pct",
)


@pytest.mark.slow
def test_a_short_soak_sends_every_kind_without_errors(tmp_path: Path) -> None:
    output, chart = tmp_path / "soak.json", tmp_path / "soak.png"
    command = [
        sys.executable,
        str(SCRIPT),
        *("--duration", str(DURATION), "--window", str(WINDOW), "--rate", str(RATE)),
        *("--baseline", str(BASELINE)),
        *("--concurrency", "3", "--workers", "2", "--rss-interval", "1"),
        *("--items", "300", "--users", "500", "--events", "10000"),
        # Larger shares of the rare kinds than the default, so 20 s sees each several times.
        *("--mix", "recommend=70,ingest=15,config_read=7,config_write=4,item_upsert=4"),
        *("--output", str(output), "--chart", str(chart)),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    document = json.loads(run.stdout)
    assert json.loads(output.read_text()) == document
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for key in ("command", "machine", "config", "dataset", "warmup", "baseline", "totals"):
        assert key in document, key
    for key in ("rss", "windows", "throughput_ratio", "targets_met", "all_targets_met"):
        assert key in document, key
    assert document["benchmark"] == "soak"
    assert "bench/soak.py" in document["command"]
    assert document["dataset"]["load"]["events_inserted"] == 10000

    totals = document["totals"]
    assert totals["errors"] == 0, totals["error_samples"]
    assert totals["error_samples"] == [] and totals["errors_by_kind_status"] == {}
    for kind in KINDS:
        assert totals["by_kind"][kind]["requests"] > 0, kind
        assert totals["by_kind"][kind]["p99_ms"] > 0, kind
    # Every slot of the schedule was either sent or skipped (behind by more than 1 s).
    assert totals["requests"] + totals["skipped_slots"] == math.ceil(RATE * DURATION)
    assert totals["events_ingested"] == 10 * totals["by_kind"]["ingest"]["requests"]

    windows = document["windows"]
    assert [(w["start_s"], w["end_s"]) for w in windows] == [
        (float(a), float(a + WINDOW)) for a in range(0, DURATION, WINDOW)
    ]
    for window in windows:
        assert window["requests"] > 0 and window["errors"] == 0
        assert window["by_kind"]["recommend"]["p50_ms"] <= window["by_kind"]["recommend"]["p99_ms"]
        assert window["rss_mib_end"] > 0 and "machine_busy_pct" in window["cpu"]

    rss = document["rss"]
    # Medians of the last half of the first window and of the run (samples every second).
    assert (rss["baseline"]["from_s"], rss["baseline"]["to_s"]) == (WINDOW / 2, WINDOW)
    assert (rss["end"]["from_s"], rss["end"]["to_s"]) == (DURATION - WINDOW / 2, DURATION)
    assert rss["baseline"]["samples"] >= 3 and rss["baseline"]["median_mib"] > 0
    assert isinstance(rss["growth_pct"], float)
    assert sorted(p["role"] for p in rss["processes"]) == ["master", "worker", "worker"]
    assert len(rss["samples"]) > DURATION  # every second, plus the start

    assert document["server"]["stopped_cleanly"]
    assert document["clients"] == {"clients_reported": 3, "missing": []}

    # The recommend-only phase: same clients and pacing, recommendations only.
    baseline = document["baseline"]
    assert baseline["seconds"] == BASELINE and baseline["target_rate"] == RATE
    assert baseline["errors"] == 0, baseline["error_samples"]
    assert list(baseline["by_kind"]) == ["recommend"]
    recommend = baseline["by_kind"]["recommend"]
    assert recommend["requests"] == baseline["requests"] > 0
    assert 0 < recommend["p50_ms"] <= recommend["p95_ms"] <= recommend["p99_ms"]
    assert recommend["p99_ms"] <= recommend["max_ms"]
    assert baseline["requests"] + baseline["skipped_slots"] == math.ceil(RATE * BASELINE)
    assert isinstance(baseline["at_capacity"], bool)
    assert baseline["clients"] == {"clients_reported": 3, "missing": []}
    # Mixed requests/s over the baseline's, from the counts.
    expected = (totals["requests"] / DURATION) / (baseline["requests"] / BASELINE)
    assert document["throughput_ratio"] == pytest.approx(expected, abs=0.001)

    met = document["targets_met"]
    assert sorted(met) == sorted(TARGETS)
    for name in TARGETS:
        assert set(met[name]) == {"value", "limit", "met"}, name
        assert isinstance(met[name]["met"], bool), name
    assert met["errors_zero"] == {"value": 0, "limit": 0, "met": True}
    assert met["throughput_ratio_ge_80pct"]["value"] == document["throughput_ratio"]
    assert met["recommend_p99_le_50ms"]["value"] == totals["by_kind"]["recommend"]["p99_ms"]
    assert met["config_read_p99_le_20ms"]["value"] == totals["by_kind"]["config_read"]["p99_ms"]
    assert document["all_targets_met"] == all(t["met"] for t in met.values())

"""`bench/scale.py` end to end on a tiny dataset: it builds in a child process, publishes an
artifact, and restarts a two-worker server that maps it. Figures are not asserted, only what
the report holds."""

from __future__ import annotations

import pytest

from tests.bench.test_serving_smoke import run


@pytest.mark.slow
def test_scale_builds_once_and_restarts_from_the_artifact() -> None:
    document = run("scale.py", "--sizes", "20000")
    (size,) = document["sizes"]
    assert (size["events"], size["items"], size["users"]) == (20000, 200, 1000)
    built = size["build"]
    assert built["published"] == 1 and built["events"] > 0 and built["artifact_mib"] > 0
    restarted = size["restart"]
    assert restarted["first_request"]["status"] == 200
    assert restarted["first_request"]["items"] == 20
    assert restarted["workers"] == 2
    assert set(restarted["memory_warm_kb"]) == set(restarted["memory_idle_kb"])
    assert all(m["pss_kb"] for m in restarted["memory_warm_kb"].values())


@pytest.mark.slow
def test_vector_recall_reports_the_indexed_search_against_the_exact_one() -> None:
    document = run(
        "vector_recall.py",
        *("--items", "5000", "--users", "1500", "--events", "30000", "--requests", "40"),
    )
    assert document["clusters"] > 10 and document["users_with_vectors"] > 0
    assert 0.0 <= document["recall_min"] <= document["recall_mean"] <= 1.0


def test_refresh_reports_appending_against_rebuilding() -> None:
    document = run(
        "refresh.py",
        *("--events", "20000", "--items", "300", "--users", "500", "--repeats", "3"),
    )
    # the warm-up's batch, then three cases x three refreshes x 10 events
    assert document["sizes"]["events"] == 20000 + 10 + 9 * 10
    for case in ("append", "new_user", "full_rebuild"):
        figures = document["refresh"][case]
        assert 0 < figures["median_ms"] <= figures["max_ms"]
    assert document["speedup_append_vs_full"] > 0

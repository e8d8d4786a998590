"""`recsys build`: a separate builder (a cron job, another machine) publishes artifacts that
serving processes map instead of building; it builds only what the events made stale and
stands aside while another process holds a namespace's build lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from recsys.cli.main import app
from recsys.service.artifacts import ArtifactShelf
from recsys.signals import artifact
from recsys.store import Store
from tests.ranking.shop import NOW
from tests.service.test_artifact_sharing import NS, add_events, fill, lists, process


@pytest.fixture
def build_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    monkeypatch.setenv("RECSYS_DATABASE_URL", database_url)
    monkeypatch.setenv("RECSYS_SNAPSHOT_DIR", str(root))
    return root


def build(*args: str) -> Result:
    return CliRunner().invoke(app, ["build", *args], catch_exceptions=False)


def test_a_separate_builder_publishes_and_servers_map_it(
    store: Store, org: str, build_env: Path
) -> None:
    fill(store, org)
    result = build("--org", org)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{org}/{NS}: published ")
    (version,) = artifact.versions(build_env, org, NS)
    assert version.name in result.output

    server = process(store, build_env)
    served = lists(server, org)
    assert server.shelf is not None
    assert (server.shelf.counters.loaded, server.shelf.counters.published) == (1, 0)
    built_here = process(store, build_env / "elsewhere")
    assert served == lists(built_here, org)  # the same lists as a build from scratch


def test_it_builds_again_only_when_events_arrived(store: Store, org: str, build_env: Path) -> None:
    fill(store, org)
    assert build("--org", org).exit_code == 0
    again = build("--org", org)
    assert again.output.startswith(f"{org}/{NS}: current ")
    assert len(artifact.versions(build_env, org, NS)) == 1

    with store.write() as conn:
        add_events(conn, org, [{"user_id": "u00", "item_id": "i42", "type": 2, "ts_us": NOW - 5}])
    later = build("--org", org, "--namespace", NS)
    assert later.output.startswith(f"{org}/{NS}: published ")
    first, second = artifact.versions(build_env, org, NS)
    events = artifact.load(second).heavy_event_count
    assert events == artifact.load(first).heavy_event_count + 1
    forced = build("--org", org, "--force")
    assert forced.output.startswith(f"{org}/{NS}: published ")


def test_it_stands_aside_while_another_process_builds(
    store: Store, org: str, build_env: Path
) -> None:
    fill(store, org)
    shelf = ArtifactShelf(build_env, store)
    with shelf.build_lock(org, NS) as held:
        assert held
        result = build("--org", org)
    assert result.output.startswith(f"{org}/{NS}: busy ")
    assert artifact.versions(build_env, org, NS) == []


def test_bad_arguments_and_a_disabled_location_are_refused(
    store: Store, org: str, build_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, org)
    missing = build("--org", org, "--namespace", "nope")
    assert missing.exit_code == 1 and "no namespace" in missing.output
    assert build("--namespace", NS).exit_code == 2
    monkeypatch.setenv("RECSYS_SNAPSHOT_DIR", "off")
    off = build("--org", org)
    assert off.exit_code == 2 and "RECSYS_SNAPSHOT_DIR is off" in off.output
    assert not build_env.exists()

"""`recsys datasets fetch | list | export`, with a fake pip and a fake wheel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from recsys.cli.main import app
from recsys.datasets import cache, movielens

from .fakes import FakePip, build_wheel, sha256


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> FakePip:
    """The fake wheel is served by pip and accepted as the pinned release."""
    wheel = build_wheel()
    pip = FakePip.serving(wheel)
    monkeypatch.setattr(cache, "run_pip", pip)
    monkeypatch.setattr(movielens, "WHEEL_SHA256", sha256(wheel))
    return pip


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["datasets", *args])


def test_fetch_prints_the_cached_path_and_sha256(tmp_path: Path, fake_pip: FakePip) -> None:
    result = run("fetch", "movielens-100k", "--cache-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    path = tmp_path / "movielens-100k" / movielens.WHEEL_FILENAME
    assert f"downloaded {path}" in result.stdout
    assert f"sha256 {movielens.WHEEL_SHA256} (verified)" in result.stdout

    again = run("fetch", "movielens-100k", "--cache-dir", str(tmp_path))
    assert again.exit_code == 0, again.output
    assert f"already cached {path}" in again.stdout
    assert len(fake_pip.calls) == 1


def test_fetch_uses_env_then_the_current_directory(
    tmp_path: Path, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECSYS_DATA_CACHE", raising=False)
    assert run("fetch", "movielens-100k").exit_code == 0
    assert (tmp_path / ".cache" / "datasets" / "movielens-100k").is_dir()
    monkeypatch.setenv("RECSYS_DATA_CACHE", str(tmp_path / "env-cache"))
    assert run("fetch", "movielens-100k").exit_code == 0
    assert (tmp_path / "env-cache" / "movielens-100k" / movielens.WHEEL_FILENAME).is_file()


def test_unknown_dataset_lists_the_known_ones(tmp_path: Path) -> None:
    for command in (["fetch", "movielens-1b"], ["export", "movielens-1b", "--out", "x"]):
        result = run(*command, "--cache-dir", str(tmp_path))
        assert result.exit_code == 2
        assert "unknown dataset 'movielens-1b'; known datasets: movielens-100k" in result.stderr
    assert not (tmp_path / "movielens-1b").exists()


def test_a_network_failure_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = FakePip(returncode=1, stderr="ERROR: Could not find a version (from versions: none)")
    monkeypatch.setattr(cache, "run_pip", failing)
    result = run("fetch", "movielens-100k", "--cache-dir", str(tmp_path))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not an escaped exception
    assert "error: could not download recbole==1.2.1 with pip" in result.stderr
    assert "Traceback" not in result.output


def test_list_shows_licence_and_cache_state(tmp_path: Path, fake_pip: FakePip) -> None:
    before = run("list", "--cache-dir", str(tmp_path))
    assert before.exit_code == 0, before.output
    assert f"cache: {tmp_path}" in before.stdout
    assert "movielens-100k  [not fetched]" in before.stdout
    assert "research use only" in before.stdout

    run("fetch", "movielens-100k", "--cache-dir", str(tmp_path))
    after = run("list", "--cache-dir", str(tmp_path))
    assert "movielens-100k  [cached]" in after.stdout
    assert movielens.WHEEL_FILENAME in after.stdout

    (tmp_path / "movielens-100k" / movielens.WHEEL_FILENAME).write_bytes(b"damaged")
    damaged = run("list", "--cache-dir", str(tmp_path))
    assert "movielens-100k  [damaged: fetch again]" in damaged.stdout


def test_export_refuses_before_fetch(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("export", "movielens-100k", "--out", str(out), "--cache-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "movielens-100k is not fetched yet" in result.stderr
    assert "recsys datasets fetch movielens-100k" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_the_import_files(tmp_path: Path, fake_pip: FakePip, fmt: str) -> None:
    cache_dir = str(tmp_path / "cache")
    assert run("fetch", "movielens-100k", "--cache-dir", cache_dir).exit_code == 0
    out = tmp_path / "out"
    result = run(
        "export", "movielens-100k", "--out", str(out), "--format", fmt, "--cache-dir", cache_dir
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"{k}.{fmt}" for k in ("events", "items", "users")
    ]
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["items", "5"], ["users", "3"], ["events", "4"]]
    if fmt == "jsonl":
        first = json.loads((out / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert first["event_id"] == "ml100k-7-10"
    else:
        assert (
            (out / "events.csv")
            .read_text(encoding="utf-8")
            .startswith("event_id,user_id,item_id,type,value,ts\n")
        )


def test_export_of_a_damaged_cache_deletes_it_and_says_to_refetch(
    tmp_path: Path, fake_pip: FakePip
) -> None:
    run("fetch", "movielens-100k", "--cache-dir", str(tmp_path))
    wheel = tmp_path / "movielens-100k" / movielens.WHEEL_FILENAME
    wheel.write_bytes(b"damaged")
    result = run(
        "export", "movielens-100k", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path)
    )
    assert result.exit_code == 1
    assert "it was deleted" in result.stderr
    assert "recsys datasets fetch movielens-100k" in result.stderr
    assert not wheel.exists()


def test_export_rejects_an_unknown_format(tmp_path: Path) -> None:
    result = run("export", "movielens-100k", "--out", str(tmp_path), "--format", "xml")
    assert result.exit_code == 2

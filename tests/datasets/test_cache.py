"""Cache location, download through a (fake) pip, and sha256 checks on arrival and on load."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from recsys.datasets import cache, movielens
from recsys.datasets.cache import (
    ChecksumMismatch,
    DownloadError,
    NotFetched,
    resolve_cache_dir,
)
from recsys.datasets.movielens import fetch_movielens_100k, load_movielens_100k, wheel_path

from .fakes import FakePip, build_wheel, sha256


def test_cache_dir_option_beats_env_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_cache_dir(None, {}) == tmp_path / ".cache" / "datasets"
    assert resolve_cache_dir(None, {"RECSYS_DATA_CACHE": "/srv/data"}) == Path("/srv/data")
    assert resolve_cache_dir(Path("mine"), {"RECSYS_DATA_CACHE": "/srv/data"}) == (
        tmp_path / "mine"
    )
    monkeypatch.setenv("RECSYS_DATA_CACHE", str(tmp_path / "from-env"))
    assert resolve_cache_dir() == tmp_path / "from-env"


def test_fetch_downloads_once_and_skips_when_verified(tmp_path: Path) -> None:
    wheel = build_wheel()
    pip = FakePip.serving(wheel)
    path = fetch_movielens_100k(tmp_path, expected_sha256=sha256(wheel), pip=pip)
    assert path == wheel_path(tmp_path) == tmp_path / "movielens-100k" / movielens.WHEEL_FILENAME
    assert path.read_bytes() == wheel
    [args] = pip.calls
    assert args[0] == "download"
    assert "--no-deps" in args
    assert "recbole==1.2.1" in args
    # The download went to a temporary folder beside the target, since removed.
    assert Path(args[args.index("--dest") + 1]).parent == path.parent
    assert sorted(p.name for p in path.parent.iterdir()) == [movielens.WHEEL_FILENAME]

    again = fetch_movielens_100k(tmp_path, expected_sha256=sha256(wheel), pip=pip)
    assert again == path
    assert len(pip.calls) == 1  # idempotent: a verified wheel is not downloaded again


def test_fetch_replaces_a_damaged_cached_wheel(tmp_path: Path) -> None:
    wheel = build_wheel()
    damaged = wheel_path(tmp_path)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(wheel[:100])
    pip = FakePip.serving(wheel)
    fetch_movielens_100k(tmp_path, expected_sha256=sha256(wheel), pip=pip)
    assert damaged.read_bytes() == wheel
    assert len(pip.calls) == 1


def test_a_download_with_the_wrong_hash_is_discarded(tmp_path: Path) -> None:
    # Without the test's hash the fake wheel must fail: the pinned hash is the real wheel's.
    pip = FakePip.serving(build_wheel())
    with pytest.raises(ChecksumMismatch, match=f"expected {movielens.WHEEL_SHA256}"):
        fetch_movielens_100k(tmp_path, pip=pip)
    assert list((tmp_path / "movielens-100k").iterdir()) == []


def test_load_verifies_and_deletes_a_mismatching_wheel(tmp_path: Path) -> None:
    wheel = build_wheel()
    fetch_movielens_100k(tmp_path, expected_sha256=sha256(wheel), pip=FakePip.serving(wheel))
    assert len(load_movielens_100k(tmp_path, expected_sha256=sha256(wheel)).items) == 5

    with pytest.raises(ChecksumMismatch) as caught:
        load_movielens_100k(tmp_path)  # the pinned hash: the fake wheel is not the release
    message = str(caught.value)
    assert "it was deleted" in message
    assert "recsys datasets fetch movielens-100k" in message
    assert not wheel_path(tmp_path).exists()


def test_load_of_a_corrupted_file_deletes_it(tmp_path: Path) -> None:
    wheel = build_wheel()
    path = fetch_movielens_100k(tmp_path, expected_sha256=sha256(wheel), pip=FakePip.serving(wheel))
    path.write_bytes(wheel[:-10])
    with pytest.raises(ChecksumMismatch, match="damaged"):
        load_movielens_100k(tmp_path, expected_sha256=sha256(wheel))
    assert not path.exists()


def test_load_before_fetch_says_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(NotFetched, match="run `recsys datasets fetch movielens-100k`"):
        load_movielens_100k(tmp_path)


def test_a_pip_failure_is_a_download_error_with_pips_reason(tmp_path: Path) -> None:
    pip = FakePip(
        returncode=1,
        stderr="WARNING: Retrying ...\nERROR: No matching distribution found for recbole==1.2.1\n",
    )
    with pytest.raises(DownloadError) as caught:
        fetch_movielens_100k(tmp_path, pip=pip)
    message = str(caught.value)
    assert "exit 1" in message
    assert "No matching distribution found" in message
    assert "WARNING" not in message
    assert "network" in message
    assert not wheel_path(tmp_path).exists()


def test_pip_that_cannot_run_is_a_download_error(tmp_path: Path) -> None:
    def broken(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(["pip"], 600)

    with pytest.raises(DownloadError, match="could not run pip"):
        fetch_movielens_100k(tmp_path, pip=broken)


def test_pip_downloading_another_file_is_a_download_error(tmp_path: Path) -> None:
    pip = FakePip({"recbole-9.9.9-py3-none-any.whl": build_wheel()})
    with pytest.raises(DownloadError, match=r"recbole-9\.9\.9-py3-none-any\.whl"):
        fetch_movielens_100k(tmp_path, pip=pip)


def test_run_pip_uses_the_running_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(cache.subprocess, "run", fake_run)
    cache.run_pip(["--version"])
    assert seen == [[sys.executable, "-m", "pip", "--version"]]

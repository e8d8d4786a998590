"""The real thing: `pip download recbole==1.2.1` from PyPI (about 2 MB), verified and mapped.

Runs everywhere, CI included; nothing from the data is printed or committed, only properties
are checked."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.datasets import DatasetRecords
from recsys.datasets.cache import sha256_file
from recsys.datasets.movielens import (
    WHEEL_SHA256,
    fetch_movielens_100k,
    load_movielens_100k,
    wheel_path,
)
from recsys.service.schemas.ingest import EventIn, ItemIn, UserIn

AGE_GROUPS = {"under_18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datasets-cache")
    path = fetch_movielens_100k(root)  # the real pip, the pinned hash
    assert path == wheel_path(root)
    return root


@pytest.fixture(scope="module")
def records(cache_dir: Path) -> DatasetRecords:
    return load_movielens_100k(cache_dir)


def test_the_wheel_is_the_pinned_release(cache_dir: Path) -> None:
    assert sha256_file(wheel_path(cache_dir)) == WHEEL_SHA256

    def no_network(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise AssertionError("a verified wheel must not be downloaded again")

    assert fetch_movielens_100k(cache_dir, pip=no_network) == wheel_path(cache_dir)


def test_sizes_and_ids(records: DatasetRecords) -> None:
    assert len(records.events) == 100_000
    assert len(records.users) == 943
    assert len(records.items) == 1_682
    user_ids = {user["user_id"] for user in records.users}
    item_ids = {item["item_id"] for item in records.items}
    assert user_ids == {str(n) for n in range(1, 944)}
    assert item_ids == {str(n) for n in range(1, 1683)}
    assert len({event["event_id"] for event in records.events}) == 100_000
    assert {event["user_id"] for event in records.events} == user_ids
    assert {event["item_id"] for event in records.events} <= item_ids


def test_events_are_ratings(records: DatasetRecords) -> None:
    assert {event["type"] for event in records.events} == {3}
    assert set(Counter(event["value"] for event in records.events)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    moments = [datetime.fromisoformat(event["ts"]) for event in records.events]
    assert all(m.tzinfo == UTC for m in moments)
    # MovieLens-100K was collected from September 1997 to April 1998.
    assert datetime(1997, 9, 1, tzinfo=UTC) <= min(moments)
    assert max(moments) < datetime(1998, 5, 1, tzinfo=UTC)

    of_user_1 = [event for event in records.events if event["user_id"] == "1"]
    assert len(of_user_1) == 272
    first = of_user_1[0]
    assert first["event_id"] == f"ml100k-1-{first['item_id']}"
    assert 1 <= first["value"] <= 5
    assert first["ts"].endswith("Z")


def test_items_and_users(records: DatasetRecords) -> None:
    years = [item["props"].get("release_year") for item in records.items]
    known = [year for year in years if year is not None]
    assert len(known) >= 1_600
    assert all(1900 <= year <= 1999 for year in known)
    for item in records.items:
        assert item["tags"] and item["category"] == item["tags"][0]
        assert all(tag == tag.lower() for tag in item["tags"])
        year = item["props"].get("release_year")
        decade = [tag for tag in item["tags"] if tag.startswith("decade:")]
        assert decade == ([] if year is None else [f"decade:{year // 10 * 10}s"])
    tags = {tag for item in records.items for tag in item["tags"]}
    assert {"children's", "sci-fi", "film-noir", "comedy", "decade:1990s"} <= tags
    # Accented titles decode as the characters they are, not as mojibake.
    titles = [item["title"] or "" for item in records.items]
    assert any(not title.isascii() for title in titles)
    assert not any("Ã" in title for title in titles)

    assert {user["traits"]["age_group"] for user in records.users} == AGE_GROUPS
    assert {user["traits"]["gender"] for user in records.users} == {"F", "M"}
    assert all(
        set(user["traits"]) == {"age", "age_group", "gender", "occupation"}
        for user in records.users
    )


def test_every_record_is_accepted_by_the_api_models(records: DatasetRecords) -> None:
    for item in records.items:
        ItemIn.model_validate(item)
    for user in records.users:
        UserIn.model_validate(user)
    for event in records.events:
        EventIn.model_validate(event)


def test_cli_export_of_the_real_dataset(cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ml100k"
    result = CliRunner().invoke(
        app,
        ["datasets", "export", "movielens-100k", "--out", str(out), "--cache-dir", str(cache_dir)],
    )
    assert result.exit_code == 0, result.output
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["items", "1682"],
        ["users", "943"],
        ["events", "100000"],
    ]
    with (out / "events.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 100_001  # header + one line per rating

"""Import files written from dataset records: the CSV columns and the JSON Lines records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recsys.datasets import DatasetRecords, write_import_files
from recsys.datasets.movielens import parse_wheel
from recsys.service.schemas.ingest import EventIn, ItemIn, UserIn

from .fakes import build_wheel


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_csv_files_use_the_import_columns(tmp_path: Path) -> None:
    paths = write_import_files(parse_wheel(build_wheel()), tmp_path / "out")
    assert paths == {
        "items": tmp_path / "out" / "items.csv",
        "users": tmp_path / "out" / "users.csv",
        "events": tmp_path / "out" / "events.csv",
    }

    header, items = read_csv(paths["items"])
    assert header == [
        "item_id",
        "title",
        "category",
        "brand",
        "tags",
        "price",
        "available",
        "release_year",
    ]
    assert items[0] == {
        "item_id": "10",
        "title": "The Quiet Lighthouse",
        "category": "animation",
        "brand": "",
        "tags": "animation;children's;comedy;decade:1990s",
        "price": "",
        "available": "true",
        "release_year": "1994",
    }
    assert items[1]["title"] == "Crème Brûlée à Minuit"
    assert items[2]["release_year"] == ""  # unknown year: an empty cell, hence no prop

    header, users = read_csv(paths["users"])
    assert header == ["user_id", "age", "age_group", "gender", "occupation"]
    assert users[0] == {
        "user_id": "7",
        "age": "17",
        "age_group": "under_18",
        "gender": "F",
        "occupation": "student",
    }

    header, events = read_csv(paths["events"])
    assert header == ["event_id", "user_id", "item_id", "type", "value", "ts"]
    assert events[0] == {
        "event_id": "ml100k-7-10",
        "user_id": "7",
        "item_id": "10",
        "type": "3",
        "value": "5",
        "ts": "1970-01-01T00:00:00Z",
    }
    assert events[3]["value"] == "4.5"
    assert [p.name for p in sorted((tmp_path / "out").iterdir())] == [
        "events.csv",
        "items.csv",
        "users.csv",
    ]


def test_jsonl_files_hold_the_api_records(tmp_path: Path) -> None:
    records = parse_wheel(build_wheel())
    paths = write_import_files(records, tmp_path, format="jsonl")
    assert {kind: path.name for kind, path in paths.items()} == {
        "items": "items.jsonl",
        "users": "users.jsonl",
        "events": "events.jsonl",
    }
    lines = {kind: path.read_text(encoding="utf-8").splitlines() for kind, path in paths.items()}
    assert [json.loads(line) for line in lines["items"]] == records.items
    assert [json.loads(line) for line in lines["users"]] == records.users
    assert [json.loads(line) for line in lines["events"]] == records.events
    assert "Crème Brûlée" in lines["items"][1]  # written as UTF-8, not \u escapes
    for line in lines["items"]:
        ItemIn.model_validate_json(line)
    for line in lines["users"]:
        UserIn.model_validate_json(line)
    for line in lines["events"]:
        EventIn.model_validate_json(line)


def test_export_replaces_files_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("old\n")
    write_import_files(parse_wheel(build_wheel()), tmp_path)
    assert (tmp_path / "items.csv").read_text(encoding="utf-8").startswith("item_id,")


def test_what_csv_cannot_express_is_refused(tmp_path: Path) -> None:
    item = {"item_id": "a", "tags": ["x;y"], "props": {}, "available": True}
    with pytest.raises(ValueError, match="contains ';'"):
        write_import_files(DatasetRecords(items=[item], users=[], events=[]), tmp_path)
    nested = {"item_id": "a", "tags": [], "props": {"sizes": [1, 2]}}
    with pytest.raises(ValueError, match="use jsonl"):
        write_import_files(DatasetRecords(items=[nested], users=[], events=[]), tmp_path)
    clash = {"item_id": "a", "tags": [], "props": {"price": 3}}
    with pytest.raises(ValueError, match="clashes"):
        write_import_files(DatasetRecords(items=[clash], users=[], events=[]), tmp_path)
    with pytest.raises(ValueError, match="unknown import format"):
        write_import_files(DatasetRecords([], [], []), tmp_path, format="xml")  # type: ignore[arg-type]
    assert not list(tmp_path.glob(".*.tmp"))

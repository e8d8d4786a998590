"""The import readers: CSV and JSONL of each kind turn into the API's objects, bad rows are named
by file, line and field, derived event ids are deterministic, and nothing is read ahead."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from recsys.imports import ImportFormatError, read_events, read_items, read_users
from recsys.imports.formats import api_rows


def write(path: Path, text: str) -> Path:
    if path.suffix.lower() == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as stream:
            stream.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write(path, "".join(json.dumps(row) + "\n" for row in rows))


def error_of(reader: Any, path: Path) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        list(reader(path))
    return caught.value


ITEMS_CSV = """item_id,title,category,brand,tags,price,available,category_path,created_at,colour
sku-1,Trail shoe,shoes,acme, running ; outdoor ;,89.00,,Footwear > Shoes,2026-11-01T09:00:00Z,red
sku-2,"Jacket, rain",jackets,northwind,,120,NO,,,
sku-3,Socks,,,,,1,,,
"""


# --- items ---------------------------------------------------------------------------------------


def test_items_csv_become_api_items(tmp_path: Path) -> None:
    items = list(read_items(write(tmp_path / "items.csv", ITEMS_CSV)))
    assert items == [
        {
            "item_id": "sku-1",
            "title": "Trail shoe",
            "category": "shoes",
            "brand": "acme",
            "tags": ["running", "outdoor"],
            "price": 89.0,
            "category_path": ["Footwear", "Shoes"],
            "created_at": "2026-11-01T09:00:00Z",
            "props": {"colour": "red"},
        },
        {
            "item_id": "sku-2",
            "title": "Jacket, rain",
            "category": "jackets",
            "brand": "northwind",
            "price": 120.0,
            "available": False,
        },
        {"item_id": "sku-3", "title": "Socks", "available": True},
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("true", True), ("Yes", True), ("1", True), ("false", False), ("no", False), ("0", False)],
)
def test_available_spellings(tmp_path: Path, cell: str, expected: bool) -> None:
    path = write(tmp_path / "items.csv", f"item_id,available\na,{cell}\n")
    assert next(read_items(path))["available"] is expected


def test_items_jsonl_are_the_api_objects(tmp_path: Path) -> None:
    rows = [
        {"item_id": "a", "embedding": [0.1, 0.2], "props": {"size": {"eu": 42}}, "tags": ["x"]},
        {"item_id": "b", "price": 3, "available": False},
    ]
    items = list(read_items(jsonl(tmp_path / "items.jsonl", rows)))
    assert items == [
        {"item_id": "a", "embedding": [0.1, 0.2], "props": {"size": {"eu": 42}}, "tags": ["x"]},
        {"item_id": "b", "price": 3.0, "available": False},
    ]


def test_csv_and_jsonl_items_agree(tmp_path: Path) -> None:
    from_csv = list(read_items(write(tmp_path / "items.csv", ITEMS_CSV)))
    from_jsonl = list(read_items(jsonl(tmp_path / "items.ndjson", from_csv)))
    assert from_jsonl == from_csv


# --- users ---------------------------------------------------------------------------------------


def test_users_csv_traits(tmp_path: Path) -> None:
    path = write(
        tmp_path / "users.csv",
        "user_id,segment,age,score,zip,big,ratio\n"
        "u1,power_users,42,-0.5,01234,1e999,1e3\n"
        "u2,,,,,,\n",
    )
    assert list(read_users(path)) == [
        {
            "user_id": "u1",
            "traits": {
                "segment": "power_users",
                "age": 42,
                "score": -0.5,
                "zip": "01234",  # leading zero: a code, not a number
                "big": "1e999",  # no finite number: stays text
                "ratio": 1000.0,
            },
        },
        {"user_id": "u2"},
    ]


def test_users_jsonl(tmp_path: Path) -> None:
    rows = [{"user_id": "u1", "traits": {"segment": "a", "n": 3, "tags": ["x"]}}]
    assert list(read_users(jsonl(tmp_path / "users.jsonl", rows))) == rows


def test_user_without_id_is_an_error(tmp_path: Path) -> None:
    error = error_of(read_users, write(tmp_path / "users.csv", "user_id,segment\n,power\n"))
    assert (error.line, error.field) == (2, "user_id")


# --- events --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("view", 0),
        ("0", 0),
        ("click", 1),
        ("add_to_cart", 2),
        ("cart", 2),
        ("2", 2),
        ("PURCHASE", 3),
        ("buy", 3),
        ("custom", 4),
        ("4", 4),
    ],
)
def test_event_types_by_name_or_number(tmp_path: Path, cell: str, code: int) -> None:
    path = write(tmp_path / "events.csv", f"user_id,item_id,type\nu,i,{cell}\n")
    assert next(read_events(path))["type"] == code


def test_events_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        "event_id,user_id,item_id,type,value,ts\n"
        "e1,u1,sku-1,purchase,2.5,2026-11-20T10:00:00+01:00\n"
        ",u2,sku-2,view,,\n",
    )
    first, second = read_events(path)
    assert first == {
        "event_id": "e1",
        "user_id": "u1",
        "item_id": "sku-1",
        "type": 3,
        "value": 2.5,
        "ts": "2026-11-20T10:00:00+01:00",
    }
    assert second["event_id"].startswith("imp-") and len(second["event_id"]) == 36
    assert {k: v for k, v in second.items() if k != "event_id"} == {
        "user_id": "u2",
        "item_id": "sku-2",
        "type": 0,
    }


def test_events_jsonl_with_meta(tmp_path: Path) -> None:
    rows = [
        {
            "event_id": "e1",
            "user_id": "u",
            "item_id": "i",
            "type": "click",
            "ts": "2026-11-20T10:00:00Z",
            "meta": {"surface": "home"},
        }
    ]
    (event,) = read_events(jsonl(tmp_path / "events.jsonl", rows))
    assert event == {**rows[0], "type": 1}


@pytest.mark.parametrize("name", ["events.csv.gz", "events.jsonl.gz", "events.NDJSON.GZ"])
def test_gzipped_files(tmp_path: Path, name: str) -> None:
    if ".csv" in name:
        text = "user_id,item_id,type,ts\nu,i,view,2026-11-20T10:00:00Z\n"
    else:
        text = '{"user_id": "u", "item_id": "i", "type": 0, "ts": "2026-11-20T10:00:00Z"}\n'
    (event,) = read_events(write(tmp_path / name, text))
    assert (event["user_id"], event["type"], event["ts"]) == ("u", 0, "2026-11-20T10:00:00Z")


def test_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"\xef\xbb\xbfuser_id,item_id,type\r\nu,i,view\r\n")
    assert next(read_events(path))["user_id"] == "u"


# --- errors --------------------------------------------------------------------------------------


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    error = error_of(read_events, write(tmp_path / "events.csv", "user_id,ts\nu,\n"))
    assert error.line == 1
    assert "missing required column(s): item_id, type" in str(error)
    assert str(error).startswith(f"{tmp_path / 'events.csv'}:1: header:")


def test_header_is_checked_even_without_rows(tmp_path: Path) -> None:
    error = error_of(read_items, write(tmp_path / "items.csv", "title,price\n"))
    assert "missing required column(s): item_id" in error.reason


def test_unknown_event_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "user_id,item_id,type,surface\nu,i,view,home\n")
    assert "unknown column(s): surface" in str(error_of(read_events, path))


@pytest.mark.parametrize("column", ["embedding", "props"])
def test_item_columns_csv_cannot_carry(tmp_path: Path, column: str) -> None:
    path = write(tmp_path / "items.csv", f"item_id,{column}\na,x\n")
    assert f"{column} cannot be given in CSV" in str(error_of(read_items, path))


def test_repeated_and_unnamed_columns(tmp_path: Path) -> None:
    error = error_of(read_users, write(tmp_path / "users.csv", "user_id,a,a,\nu,1,2,3\n"))
    assert "repeated column(s): a" in error.reason and "column(s) 4 have no name" in error.reason


def test_bad_type_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "user_id,item_id,type\nu,i,view\nu,i,like\n")
    error = error_of(read_events, path)
    assert (error.path, error.line, error.field) == (str(path), 3, "type")
    assert "unknown event type 'like'" in error.reason
    assert str(error).startswith(f"{path}:3: type: ")


@pytest.mark.parametrize("ts", ["yesterday", "2026-11-20T10:00:00", "2026-13-01T00:00:00Z"])
def test_bad_ts(tmp_path: Path, ts: str) -> None:
    path = write(tmp_path / "events.csv", f"user_id,item_id,type,ts\nu,i,view,{ts}\n")
    error = error_of(read_events, path)
    assert (error.line, error.field) == (2, "ts")


def test_negative_price(tmp_path: Path) -> None:
    error = error_of(read_items, write(tmp_path / "items.csv", "item_id,price\na,1\nb,-3\n"))
    assert (error.line, error.field) == (3, "price")
    assert "greater than or equal to 0" in error.reason


def test_bad_available_value(tmp_path: Path) -> None:
    error = error_of(read_items, write(tmp_path / "items.csv", "item_id,available\na,maybe\n"))
    assert (error.line, error.field) == (2, "available")


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.jsonl",
        '{"user_id": "u", "item_id": "i", "type": 0}\n\n{"user_id": "u", "item_id": "i"}\n',
    )
    error = error_of(read_events, path)
    assert (error.line, error.field) == (3, "type")
    broken = write(tmp_path / "items.jsonl", '{"item_id": "a"}\n{"item_id": \n')
    assert error_of(read_items, broken).line == 2
    extra = write(tmp_path / "users.jsonl", '{"user_id": "u", "segment": "x"}\n')
    assert error_of(read_users, extra).field == "segment"  # unknown fields, as the API says


def test_line_numbers_count_blank_lines_and_multiline_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        'item_id,title\n\na,"two\nlines"\n\nb,ok\nc,x,extra\n',
    )
    error = error_of(read_items, path)
    assert error.line == 7 and "3 cells, the header has 2" in error.reason
    rows = list(api_rows(path, "items"))[:2]
    assert [(line, row["title"]) for line, row in rows if isinstance(row, dict)] == [
        (3, "two\nlines"),
        (6, "ok"),
    ]


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    error = error_of(read_items, write(tmp_path / "items.txt", "item_id\na\n"))
    assert error.line is None and "unknown extension" in error.reason
    assert "cannot open" in error_of(read_items, tmp_path / "absent.csv").reason


def test_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"item_id\na\n\xff\xfe\n")
    assert "cannot read" in error_of(read_items, path).reason


# --- derived event ids ---------------------------------------------------------------------------

EVENTS = """user_id,item_id,type,value,ts
u1,i1,view,,2026-11-20T10:00:00Z
u1,i1,view,,2026-11-20T10:00:00Z
u1,i2,buy,2,2026-11-20T11:00:00+01:00
u1,i1,view,,2026-11-20T10:00:00Z
u2,i1,view,,
"""


def ids(path: Path) -> list[str]:
    return [event["event_id"] for event in read_events(path)]


def test_derived_ids_are_deterministic_and_distinct(tmp_path: Path) -> None:
    first = ids(write(tmp_path / "events.csv", EVENTS))
    assert len(set(first)) == 5  # identical rows are distinct events
    assert ids(tmp_path / "events.csv") == first  # re-reading: the same ids (idempotent import)
    assert ids(write(tmp_path / "copy.csv.gz", EVENTS)) == first  # not tied to the file name


def test_derived_ids_do_not_depend_on_spelling_or_format(tmp_path: Path) -> None:
    reference = ids(write(tmp_path / "events.csv", EVENTS))
    respelled = (
        EVENTS.replace("view,,", "0,1.0,")
        .replace("buy,2,", "3,2.000,")
        .replace("11:00:00+01:00", "10:00:00Z")
    )
    assert ids(write(tmp_path / "respelled.csv", respelled)) == reference
    as_jsonl = [
        {k: v for k, v in e.items() if k != "event_id"}
        for e in read_events(tmp_path / "events.csv")
    ]
    assert ids(jsonl(tmp_path / "events.jsonl", as_jsonl)) == reference


def test_appending_rows_keeps_earlier_ids(tmp_path: Path) -> None:
    reference = ids(write(tmp_path / "events.csv", EVENTS))
    extended = ids(write(tmp_path / "more.csv", EVENTS + "u1,i1,view,,2026-11-20T10:00:00Z\n"))
    assert extended[:5] == reference and extended[5] not in reference


def test_a_changed_row_gets_a_new_id(tmp_path: Path) -> None:
    reference = ids(write(tmp_path / "events.csv", EVENTS))
    changed = ids(write(tmp_path / "changed.csv", EVENTS.replace("buy,2,", "buy,3,")))
    assert [a == b for a, b in zip(reference, changed, strict=True)] == [
        True,
        True,
        False,
        True,
        True,
    ]


def test_given_event_ids_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "event_id,user_id,item_id,type\nmine,u,i,view\n")
    assert ids(path) == ["mine"]


# --- streaming -----------------------------------------------------------------------------------


def test_rows_come_before_the_rest_of_the_file_is_read(tmp_path: Path) -> None:
    """A reader on a pipe yields the first row while the writer still holds the rest: nothing is
    read ahead of need (a generator over the stream, not over a list)."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    pipe = tmp_path / "events.csv"
    os.mkfifo(pipe)
    first_row_seen = threading.Event()
    rest_written = threading.Event()

    def writer() -> None:
        with pipe.open("w") as stream:
            stream.write("user_id,item_id,type\nu1,i1,view\n")
            stream.flush()
            first_row_seen.wait(timeout=20)
            stream.writelines(f"u{n},i{n},click\n" for n in range(100_000))
        rest_written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        events = read_events(pipe)
        assert next(events)["user_id"] == "u1"
        assert not rest_written.is_set()
        first_row_seen.set()
        assert sum(1 for _ in events) == 100_000
    finally:
        first_row_seen.set()
        thread.join(timeout=30)


def test_a_bad_row_later_does_not_stop_earlier_rows(tmp_path: Path) -> None:
    lines = ["user_id,item_id,type", *(f"u{n},i{n},view" for n in range(50_000)), "u,i,nope"]
    events = read_events(write(tmp_path / "events.csv", "\n".join(lines) + "\n"))
    assert next(events)["user_id"] == "u0"
    with pytest.raises(ImportFormatError) as caught:
        for _ in events:
            pass
    assert caught.value.line == 50_002

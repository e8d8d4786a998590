"""A dataset as API records, and its form as import files (CSV or JSON Lines).

The import format (what `items.csv`, `users.csv`, `events.csv` look like):

- items: `item_id,title,category,brand,tags,price,available`, then one column per prop key
  (extra columns become props on import); `tags` are `;`-separated, `available` is true/false.
- users: `user_id`, then one column per trait key.
- events: `event_id,user_id,item_id,type,value,ts` (ts RFC3339).

JSON Lines files hold one API record per line, exactly as the HTTP API accepts it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TextIO

Record = dict[str, Any]
ImportFormat = Literal["csv", "jsonl"]

ITEM_COLUMNS = ("item_id", "title", "category", "brand", "tags", "price", "available")
USER_COLUMNS = ("user_id",)
EVENT_COLUMNS = ("event_id", "user_id", "item_id", "type", "value", "ts")
TAG_SEPARATOR = ";"


@dataclass(frozen=True)
class DatasetRecords:
    """Items, users and events as the HTTP API accepts them (ItemIn, UserIn, EventIn)."""

    items: list[Record]
    users: list[Record]
    events: list[Record]


def write_import_files(
    records: DatasetRecords, out_dir: Path, format: ImportFormat = "csv"
) -> dict[str, Path]:
    """Write items, users and events files into out_dir (created if needed; files of the same
    name are replaced). Returns {"items": path, "users": path, "events": path}."""
    if format not in ("csv", "jsonl"):
        raise ValueError(f"unknown import format {format!r}: use csv or jsonl")
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, list[Record]] = {
        "items": records.items,
        "users": records.users,
        "events": records.events,
    }
    paths: dict[str, Path] = {}
    for kind, rows in kinds.items():
        path = out_dir / f"{kind}.{format}"
        if format == "jsonl":
            _write_atomically(path, partial(_write_jsonl, rows=rows))
        else:
            header, table = _csv_table(kind, rows)
            _write_atomically(path, partial(_write_csv, header=header, table=table))
        paths[kind] = path
    return paths


def _write_jsonl(out: TextIO, rows: Iterable[Record]) -> None:
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_csv(out: TextIO, header: list[str], table: Iterable[list[str]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)


def _csv_table(kind: str, rows: list[Record]) -> tuple[list[str], Iterator[list[str]]]:
    if kind == "items":
        extra = _extra_keys(rows, "props", ITEM_COLUMNS)
        return [*ITEM_COLUMNS, *extra], (_item_row(row, extra) for row in rows)
    if kind == "users":
        extra = _extra_keys(rows, "traits", USER_COLUMNS)
        return [*USER_COLUMNS, *extra], (
            [str(row["user_id"]), *(_cell(row.get("traits", {}).get(key)) for key in extra)]
            for row in rows
        )
    return list(EVENT_COLUMNS), ([_cell(row.get(col)) for col in EVENT_COLUMNS] for row in rows)


def _item_row(row: Record, extra: Sequence[str]) -> list[str]:
    tags = [str(tag) for tag in row.get("tags", [])]
    for tag in tags:
        if TAG_SEPARATOR in tag:
            raise ValueError(f"item {row['item_id']}: tag {tag!r} contains {TAG_SEPARATOR!r}")
    fixed = {**row, "tags": TAG_SEPARATOR.join(tags), "available": row.get("available", True)}
    props = row.get("props", {})
    return [*(_cell(fixed.get(col)) for col in ITEM_COLUMNS), *(_cell(props.get(k)) for k in extra)]


def _extra_keys(rows: list[Record], field: str, fixed: Sequence[str]) -> list[str]:
    """Every key of the rows' props/traits, first-seen order; a clash with a fixed column or a
    nested value cannot be expressed in CSV, so it is an error (JSON Lines can carry both)."""
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row.get(field, {}).items():
            if key in fixed:
                raise ValueError(f"{field} key {key!r} clashes with a CSV column; use jsonl")
            if isinstance(value, dict | list):
                raise ValueError(f"{field} key {key!r} holds {type(value).__name__}; use jsonl")
            keys.setdefault(key, None)
    return list(keys)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a rating of 4.0 reads "4"
    return str(value)


def _write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    # A crash mid-export must not leave a half file that an importer would take for a whole one.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["DatasetRecords", "ImportFormat", "Record", "write_import_files"]

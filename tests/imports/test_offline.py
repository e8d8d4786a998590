"""load_namespace_data: import files straight into the offline dataset, without a server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from recsys.clock import to_micros
from recsys.imports import ImportFormatError
from recsys.imports.offline import load_namespace_data
from recsys.offline.dataset import ITEM_DEFAULTS, temporal_split

from .test_formats import write

EVENTS = """event_id,user_id,item_id,type,value,ts
,u2,b,view,,2026-11-20T10:00:00Z
e1,u1,a,purchase,2,2026-11-20T09:00:00+01:00
e1,u1,a,purchase,2,2026-11-20T09:00:00+01:00
,u2,b,view,,2026-11-20T10:00:00Z
,u1,c,click,,2026-11-21T00:00:00Z
"""


def us(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def test_files_become_the_offline_dataset(tmp_path: Path) -> None:
    items = write(
        tmp_path / "items.csv",
        "item_id,category,tags,price,created_at\n"
        "b,shoes,run;trail,10,\n"
        "a,socks,,2,2026-01-01T00:00:00Z\n"
        "b,shoes,run,12,\n"  # a repeated id: the last row wins, as an upsert
        "z,hats,,,\n",
    )
    users = write(tmp_path / "users.csv", "user_id,segment\nu2,new_users\nu1,power_users\n")
    data = load_namespace_data(items=items, users=users, events=write(tmp_path / "e.csv", EVENTS))

    # A repeated id keeps its first position (offline.dataset.DatasetBuilder's rules).
    assert [i["item_id"] for i in data.items] == ["b", "a", "z"]
    b, a, z = data.items
    assert a["created_at_us"] == us("2026-01-01T00:00:00+00:00")
    assert b["created_at_us"] == us("2026-11-20T10:00:00+00:00")  # dated by its first event
    assert z["created_at_us"] == 0  # no date, no event
    assert (b["price"], b["tags"], b["category"]) == (12.0, ["run"], "shoes")
    assert "created_at" not in b and b["available"] is True  # a field left out: the default

    assert data.users == [
        {"user_id": "u2", "traits": {"segment": "new_users"}},
        {"user_id": "u1", "traits": {"segment": "power_users"}},
    ]
    assert data.segments() == {"u1": "power_users", "u2": "new_users"}

    log = data.events
    assert len(log) == 4  # the repeated "e1" is skipped, as the server skips it
    assert [log.users.ids[u] for u in log.user] == ["u2", "u1", "u2", "u1"]
    assert [log.items.ids[i] for i in log.item] == ["b", "a", "b", "c"]
    assert log.type.tolist() == [0, 3, 0, 1]
    assert log.value.tolist() == [1.0, 2.0, 1.0, 1.0]
    assert log.ts_us.dtype == np.int64
    assert log.ts_us.tolist() == [
        us("2026-11-20T10:00:00+00:00"),
        us("2026-11-20T08:00:00+00:00"),
        us("2026-11-20T10:00:00+00:00"),
        us("2026-11-21T00:00:00+00:00"),
    ]
    assert temporal_split(data, train_share=0.75).users == ("u1",)


def test_without_items_every_event_item_becomes_one(tmp_path: Path) -> None:
    data = load_namespace_data(items=None, users=None, events=write(tmp_path / "e.csv", EVENTS))
    assert data.items == [  # in the order the events first name them
        {**ITEM_DEFAULTS, "item_id": "b", "created_at_us": us("2026-11-20T10:00:00+00:00")},
        {**ITEM_DEFAULTS, "item_id": "a", "created_at_us": us("2026-11-20T08:00:00+00:00")},
        {**ITEM_DEFAULTS, "item_id": "c", "created_at_us": us("2026-11-21T00:00:00+00:00")},
    ]
    assert data.users == []


def test_events_need_a_ts_offline(tmp_path: Path) -> None:
    events = write(tmp_path / "e.jsonl", '{"user_id": "u", "item_id": "i", "type": 0}\n')
    with pytest.raises(ImportFormatError) as caught:
        load_namespace_data(items=None, users=None, events=events)
    assert (caught.value.line, caught.value.field) == (1, "ts")


def test_bad_rows_raise(tmp_path: Path) -> None:
    events = write(tmp_path / "e.csv", EVENTS.replace("click", "clack"))
    with pytest.raises(ImportFormatError) as caught:
        load_namespace_data(items=None, users=None, events=events)
    assert (caught.value.line, caught.value.field) == (6, "type")


def test_many_events_are_coded_in_blocks(tmp_path: Path) -> None:
    lines = ["user_id,item_id,type,ts"]
    lines += [f"u{n % 97},i{n % 31},{n % 5},2026-11-20T10:00:00Z" for n in range(150_000)]
    data = load_namespace_data(
        items=None, users=None, events=write(tmp_path / "e.csv.gz", "\n".join(lines))
    )
    log = data.events
    assert len(log) == 150_000 and len(data.items) == 31
    assert log.type[:6].tolist() == [0, 1, 2, 3, 4, 0]
    assert log.users.ids[log.user[-1]] == f"u{149_999 % 97}"

"""MovieLens files to API records, on a fake wheel of invented rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recsys.datasets.cache import DatasetError
from recsys.datasets.movielens import age_group, parse_wheel, release_year
from recsys.service.schemas.ingest import EventIn, ItemIn, UserIn

from .fakes import INTER_FILE, ITEM_FILE, USER_FILE, build_wheel


def by_id(records: list[dict], key: str) -> dict[str, dict]:
    return {record[key]: record for record in records}


def test_items_map_genres_year_and_title() -> None:
    items = by_id(parse_wheel(build_wheel()).items, "item_id")
    assert list(items) == ["10", "11", "12", "13", "14"]
    assert items["10"] == {
        "item_id": "10",
        "title": "The Quiet Lighthouse",
        "category": "animation",
        "tags": ["animation", "children's", "comedy", "decade:1990s"],
        "props": {"release_year": 1994},
        "available": True,
    }
    assert items["11"]["title"] == "Crème Brûlée à Minuit"
    assert items["11"]["tags"] == ["drama", "decade:1960s"]
    # No year (empty or malformed): no release_year prop and no decade tag.
    assert items["12"]["tags"] == ["sci-fi", "film-noir"]
    assert items["12"]["category"] == "sci-fi"
    assert items["12"]["props"] == {}
    assert items["13"]["props"] == {}
    assert items["13"]["tags"] == ["western"]
    assert items["14"]["tags"] == ["drama", "decade:2000s"]


def test_users_get_age_group_and_lose_the_zip_code() -> None:
    users = by_id(parse_wheel(build_wheel()).users, "user_id")
    assert users["7"] == {
        "user_id": "7",
        "traits": {"age": 17, "age_group": "under_18", "gender": "F", "occupation": "student"},
    }
    assert users["8"]["traits"]["age_group"] == "18-24"
    assert users["9"]["traits"]["age_group"] == "56+"
    assert all("zip_code" not in user["traits"] for user in users.values())
    assert "00000" not in str(users)


def test_events_are_type_3_with_the_rating_as_value() -> None:
    events = parse_wheel(build_wheel()).events
    assert events[0] == {
        "event_id": "ml100k-7-10",
        "user_id": "7",
        "item_id": "10",
        "type": 3,
        "value": 5.0,
        "ts": "1970-01-01T00:00:00Z",
    }
    assert [event["event_id"] for event in events] == [
        "ml100k-7-10",
        "ml100k-7-11",
        "ml100k-8-12",
        "ml100k-9-13",
    ]
    assert [event["value"] for event in events] == [5.0, 1.0, 3.0, 4.5]
    assert events[2]["ts"] == "2009-02-13T23:31:30Z"


def test_records_are_accepted_by_the_api_models() -> None:
    records = parse_wheel(build_wheel())
    for item in records.items:
        ItemIn.model_validate(item)
    for user in records.users:
        UserIn.model_validate(user)
    for event in records.events:
        parsed = EventIn.model_validate(event)
        assert parsed.type == 3
        assert parsed.ts is not None and parsed.ts.tzinfo is not None
    assert EventIn.model_validate(records.events[1]).ts == datetime(
        2001, 9, 9, 1, 46, 40, tzinfo=UTC
    )


def test_windows_line_endings_read_the_same() -> None:
    assert parse_wheel(build_wheel(crlf=True)) == parse_wheel(build_wheel())


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (1, "under_18"),
        (17, "under_18"),
        (18, "18-24"),
        (24, "18-24"),
        (25, "25-34"),
        (34, "25-34"),
        (35, "35-44"),
        (44, "35-44"),
        (45, "45-49"),
        (49, "45-49"),
        (50, "50-55"),
        (55, "50-55"),
        (56, "56+"),
        (90, "56+"),
    ],
)
def test_age_groups_are_the_movielens_1m_buckets(age: int, group: str) -> None:
    assert age_group(age) == group


@pytest.mark.parametrize(
    ("text", "year"), [("1995", 1995), (" 1930 ", 1930), ("", None), ("V", None), ("95", None)]
)
def test_release_year_is_four_digits_or_unknown(text: str, year: int | None) -> None:
    assert release_year(text) == year


def test_a_missing_member_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match=r"no recbole/dataset_example/ml-100k/ml-100k\.user"):
        parse_wheel(build_wheel(user=None))


def test_a_missing_column_is_a_clear_error() -> None:
    item = ITEM_FILE.replace("class:token_seq", "genres:token_seq")
    with pytest.raises(DatasetError, match=r"lacks the columns \['class'\]"):
        parse_wheel(build_wheel(item=item))


def test_a_short_row_names_its_line() -> None:
    inter = INTER_FILE + "9\t10\t4\n"
    with pytest.raises(DatasetError, match=r"ml-100k\.inter line 6: 3 fields, expected 4"):
        parse_wheel(build_wheel(inter=inter))


def test_bad_numbers_are_dataset_errors() -> None:
    with pytest.raises(DatasetError, match="user 7 has a non-integer age"):
        parse_wheel(build_wheel(user=USER_FILE.replace("\t17\t", "\tseventeen\t")))
    with pytest.raises(DatasetError, match="bad rating row for user 8"):
        parse_wheel(build_wheel(inter=INTER_FILE.replace("\t3\t", "\tthree\t")))


def test_not_a_zip_and_not_utf8_are_dataset_errors() -> None:
    with pytest.raises(DatasetError, match="not a zip archive"):
        parse_wheel(b"not a zip")
    with pytest.raises(DatasetError, match=r"ml-100k\.item is not UTF-8 text"):
        parse_wheel(build_wheel(encoding="latin-1"))

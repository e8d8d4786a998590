"""MovieLens-100K (GroupLens; research use only), read from the RecBole 1.2.1 wheel on PyPI.

The files are never committed or redistributed: `fetch_movielens_100k` downloads the wheel that
ships them (pip, no install) into the cache and `load_movielens_100k` maps them to API records.
The mapping is documented in docs/datasets.md; keep the two in step.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from recsys.datasets import cache
from recsys.datasets.records import DatasetRecords, Record

NAME = "movielens-100k"
WHEEL_REQUIREMENT = "recbole==1.2.1"
WHEEL_FILENAME = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBER_DIR = "recbole/dataset_example/ml-100k/"
INTER_MEMBER = MEMBER_DIR + "ml-100k.inter"
ITEM_MEMBER = MEMBER_DIR + "ml-100k.item"
USER_MEMBER = MEMBER_DIR + "ml-100k.user"
# Columns the mapping reads (zip_code is present in the .user file and deliberately unused).
COLUMNS: dict[str, tuple[str, ...]] = {
    ITEM_MEMBER: ("item_id", "movie_title", "release_year", "class"),
    USER_MEMBER: ("user_id", "age", "gender", "occupation"),
    INTER_MEMBER: ("user_id", "item_id", "rating", "timestamp"),
}

EVENT_TYPE = 3  # "purchase": a rating means the film was watched, the strongest signal we have
EVENT_ID_PREFIX = "ml100k"

# MovieLens-1M's age buckets (upper bound inclusive), reused so that segments read the same.
AGE_GROUPS: tuple[tuple[int, str], ...] = (
    (17, "under_18"),
    (24, "18-24"),
    (34, "25-34"),
    (44, "35-44"),
    (49, "45-49"),
    (55, "50-55"),
)
OLDEST_AGE_GROUP = "56+"


def wheel_path(cache_dir: Path) -> Path:
    """Where the verified wheel lives inside the cache."""
    return cache_dir / NAME / WHEEL_FILENAME


def fetch_movielens_100k(
    cache_dir: Path, *, expected_sha256: str | None = None, pip: cache.PipRunner | None = None
) -> Path:
    """Download the wheel into the cache (skipped when a verified copy is there); its path.

    expected_sha256 and pip default to the pinned hash and the real pip; tests pass their own."""
    return cache.download_wheel(
        WHEEL_REQUIREMENT,
        WHEEL_FILENAME,
        expected_sha256 or WHEEL_SHA256,
        cache_dir / NAME,
        name=NAME,
        pip=pip or cache.run_pip,
    )


def is_fetched(cache_dir: Path, *, expected_sha256: str | None = None) -> bool:
    return cache.is_verified(wheel_path(cache_dir), expected_sha256 or WHEEL_SHA256)


def load_movielens_100k(cache_dir: Path, *, expected_sha256: str | None = None) -> DatasetRecords:
    """The cached wheel, verified, mapped to items, users and events (see docs/datasets.md).

    Raises NotFetched before a fetch, ChecksumMismatch (after deleting the file) when the cached
    wheel is not the pinned one, DatasetError when its layout is not the expected one."""
    data = cache.read_verified(wheel_path(cache_dir), expected_sha256 or WHEEL_SHA256, name=NAME)
    return parse_wheel(data)


def parse_wheel(data: bytes) -> DatasetRecords:
    """Map the three MovieLens files inside the wheel's bytes (no verification here)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise cache.DatasetError(f"the {NAME} wheel is not a zip archive: {exc}") from exc
    with archive:
        items = [map_item(row) for row in _rows(archive, ITEM_MEMBER)]
        users = [map_user(row) for row in _rows(archive, USER_MEMBER)]
        events = [map_event(row) for row in _rows(archive, INTER_MEMBER)]
    return DatasetRecords(items=items, users=users, events=events)


def map_item(row: dict[str, str]) -> Record:
    genres = [genre.lower() for genre in row["class"].split()]
    year = release_year(row["release_year"])
    tags = list(dict.fromkeys(genres))  # keep the listed order, drop repeats
    if year is not None:
        tags.append(f"decade:{year // 10 * 10}s")
    return {
        "item_id": row["item_id"],
        "title": row["movie_title"] or None,
        "category": genres[0] if genres else None,
        "tags": tags,
        "props": {} if year is None else {"release_year": year},
        "available": True,
    }


def map_user(row: dict[str, str]) -> Record:
    # The zip code is dropped on purpose: ranking does not use it and it narrows a person down.
    age = _int(row["age"], "age", row["user_id"])
    return {
        "user_id": row["user_id"],
        "traits": {
            "age": age,
            "age_group": age_group(age),
            "gender": row["gender"],
            "occupation": row["occupation"],
        },
    }


def map_event(row: dict[str, str]) -> Record:
    user_id, item_id = row["user_id"], row["item_id"]
    try:
        rating = float(row["rating"])
        when = datetime.fromtimestamp(float(row["timestamp"]), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise cache.DatasetError(f"{NAME}: bad rating row for user {user_id}: {exc}") from exc
    return {
        # One rating per (user, film) in MovieLens, so the pair is a stable idempotency key.
        "event_id": f"{EVENT_ID_PREFIX}-{user_id}-{item_id}",
        "user_id": user_id,
        "item_id": item_id,
        "type": EVENT_TYPE,
        "value": rating,
        "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def release_year(text: str) -> int | None:
    """A four-digit year, else None: the field is empty or malformed for a few films."""
    text = text.strip()
    return int(text) if len(text) == 4 and text.isdigit() else None


def age_group(age: int) -> str:
    for upper, label in AGE_GROUPS:
        if age <= upper:
            return label
    return OLDEST_AGE_GROUP


def _int(text: str, field: str, user_id: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise cache.DatasetError(f"{NAME}: user {user_id} has a non-integer {field}") from exc


def _rows(archive: zipfile.ZipFile, member: str) -> Iterator[dict[str, str]]:
    """The member's rows keyed by column name (RecBole headers read `name:type`)."""
    try:
        raw = archive.read(member)
    except KeyError as exc:
        raise cache.DatasetError(f"the wheel has no {member}: not the expected release") from exc
    try:
        # The RecBole copy is UTF-8 (the GroupLens original was latin-1): accented titles
        # decode correctly only this way, and a strict decode fails loudly otherwise.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise cache.DatasetError(f"{member} is not UTF-8 text: {exc}") from exc
    # split("\n"), not splitlines(): the latter also breaks on characters a title may contain.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    header = [column.split(":", 1)[0] for column in lines[0].split("\t")]
    missing = [column for column in COLUMNS[member] if column not in header]
    if missing:
        raise cache.DatasetError(f"{member} lacks the columns {missing}: not the expected release")
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise cache.DatasetError(
                f"{member} line {number}: {len(fields)} fields, expected {len(header)}"
            )
        yield dict(zip(header, fields, strict=True))


__all__ = [
    "NAME",
    "WHEEL_SHA256",
    "age_group",
    "fetch_movielens_100k",
    "is_fetched",
    "load_movielens_100k",
    "map_event",
    "map_item",
    "map_user",
    "parse_wheel",
    "release_year",
    "wheel_path",
]

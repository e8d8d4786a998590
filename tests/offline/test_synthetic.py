"""The synthetic shop: exact sizes, determinism, time window, and the signal it is built to hold."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recsys.clock import to_micros
from recsys.offline.synthetic import (
    SEGMENTS,
    SURFACES,
    SyntheticDataset,
    generate,
)
from recsys.service.schemas.ingest import EventIn, ItemIn, UserIn

NOW = datetime(2026, 11, 26, 12, 34, 56, 789_012, tzinfo=UTC)
DAY_US = 86_400_000_000
MEDIUM = {"n_items": 2_000, "n_users": 5_000, "n_events": 100_000}


@pytest.fixture(scope="module")
def medium() -> SyntheticDataset:
    return generate(**MEDIUM, now=NOW)


def _fingerprint(data: SyntheticDataset) -> str:
    digest = hashlib.sha256()
    ev = data.events
    for array in (ev.user_index, ev.item_index, ev.type, ev.value, ev.ts_us, ev.session_index):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(ev.surface.tobytes())
    digest.update(json.dumps([data.items, data.users], sort_keys=True).encode())
    return digest.hexdigest()


def _segment_of_event(data: SyntheticDataset) -> np.ndarray:
    return data.user_segment[data.events.user_index]


def _item_codes(data: SyntheticDataset, field: str) -> np.ndarray:
    values = [item["props"][field] if field == "cluster" else item[field] for item in data.items]
    _, codes = np.unique(np.array(values), return_inverse=True)
    return codes


def _user_time_order(data: SyntheticDataset) -> np.ndarray:
    return np.lexsort((data.events.ts_us, data.events.user_index))


def test_same_arguments_give_identical_output_and_seed_changes_it() -> None:
    small = {"n_items": 300, "n_users": 400, "n_events": 6_000, "now": NOW}
    first = _fingerprint(generate(**small, seed=7))
    assert _fingerprint(generate(**small, seed=7)) == first
    assert _fingerprint(generate(**small, seed=8)) != first


@pytest.mark.parametrize(
    ("n_items", "n_users", "n_events"),
    [(50, 20, 300), (0, 0, 0), (40, 30, 0), (5, 3, 40), (13, 1, 25), (1, 1, 1), (2_000, 5, 999)],
)
def test_sizes_are_exactly_as_requested(n_items: int, n_users: int, n_events: int) -> None:
    data = generate(n_items=n_items, n_users=n_users, n_events=n_events, now=NOW)
    assert len(data.items) == n_items
    assert len(data.users) == n_users
    assert len(data.events) == n_events
    ev = data.events
    for array in (ev.user_index, ev.item_index, ev.type, ev.value, ev.ts_us, ev.session_index):
        assert array.shape == (n_events,)
    assert len({item["item_id"] for item in data.items}) == n_items
    assert len({user["user_id"] for user in data.users}) == n_users
    if n_events:
        assert ev.user_index.max() < n_users and ev.item_index.max() < n_items
        assert ev.user_index.min() >= 0 and ev.item_index.min() >= 0
    json.dumps(data.stats())


def test_arrays_are_typed_and_read_only(medium: SyntheticDataset) -> None:
    ev = medium.events
    assert ev.user_index.dtype == np.int32
    assert ev.item_index.dtype == np.int32
    assert ev.type.dtype == np.int8
    assert ev.value.dtype == np.float32
    assert ev.ts_us.dtype == np.int64
    assert set(np.unique(ev.type).tolist()) == {0, 1, 2, 3}
    assert np.all(ev.value == 1.0)
    assert np.all(np.diff(ev.ts_us) >= 0), "events are sorted by time"
    with pytest.raises(ValueError):
        ev.ts_us[0] = 0


@pytest.mark.parametrize("days", [90.0, 7.0, 1.0])
def test_every_timestamp_is_inside_the_window(days: float) -> None:
    data = generate(n_items=200, n_users=300, n_events=20_000, now=NOW, days=days)
    now_us = to_micros(NOW)
    ts = data.events.ts_us
    assert ts.max() < now_us
    assert ts.min() > now_us - round(days * DAY_US)
    created = np.array([to_micros(datetime.fromisoformat(i["created_at"])) for i in data.items])
    assert created.max() < now_us
    assert np.all(created[data.events.item_index] <= ts), "no event before its item exists"


def test_nothing_depends_on_the_wall_clock(medium: SyntheticDataset) -> None:
    # Two weeks keeps the weekdays, so everything is identical up to the shift.
    later = generate(**MEDIUM, now=NOW + timedelta(days=14))
    shift = 14 * DAY_US
    assert np.all(later.events.ts_us - medium.events.ts_us == shift)
    assert np.array_equal(later.events.item_index, medium.events.item_index)
    assert np.array_equal(later.events.user_index, medium.events.user_index)
    for before, after in zip(medium.items, later.items, strict=True):
        moved = datetime.fromisoformat(after["created_at"]) - datetime.fromisoformat(
            before["created_at"]
        )
        assert moved == timedelta(days=14)
        assert {**after, "created_at": None} == {**before, "created_at": None}
    assert later.users == medium.users


def test_segments_are_all_present_in_the_intended_proportions(medium: SyntheticDataset) -> None:
    counts = medium.segment_counts()
    assert list(counts) == list(SEGMENTS)
    assert sum(counts.values()) == MEDIUM["n_users"]
    intended = {
        "power_users": 0.15,
        "new_users": 0.25,
        "niche_readers": 0.20,
        "trend_seekers": 0.25,
        "weekend_adventurers": 0.15,
    }
    for name, share in intended.items():
        assert counts[name] / MEDIUM["n_users"] == pytest.approx(share, abs=0.02)
    assert {
        user["traits"]["segment"]
        for user in generate(n_items=50, n_users=20, n_events=300, now=NOW).users
    } == set(SEGMENTS)


def test_power_users_are_busy_and_new_users_have_few_recent_events(
    medium: SyntheticDataset,
) -> None:
    ev = medium.events
    per_user = np.bincount(ev.user_index, minlength=len(medium.users))
    segment = medium.user_segment
    new = segment == SEGMENTS.index("new_users")
    power = segment == SEGMENTS.index("power_users")
    assert per_user[new].max() <= 3
    assert (per_user[new] == 0).any() and (per_user[new] > 0).any()
    assert per_user[power].mean() > 3 * per_user[~new & ~power].mean()
    now_us = to_micros(NOW)
    new_events = new[ev.user_index]
    assert (now_us - ev.ts_us[new_events]).max() < 7 * DAY_US
    signup = np.array([u["traits"]["signup_days_ago"] for u in medium.users])
    age_days = (now_us - ev.ts_us) / DAY_US
    assert np.all(age_days < signup[ev.user_index] + 1), "no event before signup"


def test_popularity_is_long_tailed(medium: SyntheticDataset) -> None:
    share = medium.stats()["top10pct_item_share"]
    assert 0.4 <= share <= 0.85


def test_niche_readers_concentrate_on_few_categories_and_the_tail(
    medium: SyntheticDataset,
) -> None:
    ev = medium.events
    category = _item_codes(medium, "category")
    segment = _segment_of_event(medium)
    niche = segment == SEGMENTS.index("niche_readers")
    matrix = np.zeros((len(medium.users), category.max() + 1))
    np.add.at(matrix, (ev.user_index[niche], category[ev.item_index[niche]]), 1)
    active = matrix[matrix.sum(axis=1) > 0]
    top_two = np.sort(active, axis=1)[:, ::-1][:, :2].sum(axis=1) / active.sum(axis=1)
    assert top_two.mean() > 0.85
    assert np.median(top_two) >= 0.8
    niche_categories = {"fiction", "comics", "vinyl"}
    in_niche = np.array([item["category"] in niche_categories for item in medium.items])
    assert in_niche[ev.item_index[niche]].mean() > 0.8
    # Their items sit further down the popularity curve than everyone else's.
    counts = np.bincount(ev.item_index, minlength=len(medium.items))
    top = np.argsort(-counts, kind="stable")[: len(medium.items) // 10]
    is_top = np.zeros(len(medium.items), dtype=bool)
    is_top[top] = True
    assert is_top[ev.item_index[niche]].mean() + 0.15 < is_top[ev.item_index[~niche]].mean()


def test_every_segment_keeps_most_events_in_a_few_categories(medium: SyntheticDataset) -> None:
    ev = medium.events
    category = _item_codes(medium, "category")
    matrix = np.zeros((len(medium.users), category.max() + 1))
    np.add.at(matrix, (ev.user_index, category[ev.item_index]), 1)
    top_four = np.sort(matrix, axis=1)[:, ::-1][:, :4].sum()
    assert top_four / len(ev) > 0.9


def test_weekend_adventurers_shop_mostly_at_weekends(medium: SyntheticDataset) -> None:
    ev = medium.events
    weekday = (ev.ts_us // DAY_US + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    weekend = weekday >= 5
    segment = _segment_of_event(medium)
    adventurers = segment == SEGMENTS.index("weekend_adventurers")
    assert weekend[adventurers].mean() > 0.75
    assert weekend[segment == SEGMENTS.index("power_users")].mean() < 0.4
    outdoor = np.array(
        [item["category"] in {"running", "camping", "cycling"} for item in medium.items]
    )
    assert outdoor[ev.item_index[adventurers]].mean() > 0.8


def test_consecutive_events_share_a_cluster_far_more_than_chance(
    medium: SyntheticDataset,
) -> None:
    ev = medium.events
    cluster = _item_codes(medium, "cluster")
    order = _user_time_order(medium)
    user, item = ev.user_index[order], ev.item_index[order]
    pairs = (user[1:] == user[:-1]) & (item[1:] != item[:-1])
    together = (cluster[item[1:]] == cluster[item[:-1]])[pairs].mean()
    share = np.bincount(cluster[ev.item_index]) / len(ev)
    chance = float((share**2).sum())
    assert together > 0.2
    assert together > 8 * chance


def test_histories_are_time_ordered_sessions_with_funnels(medium: SyntheticDataset) -> None:
    ev = medium.events
    order = _user_time_order(medium)
    user, session = ev.user_index[order], ev.session_index[order]
    kind, item, ts = ev.type[order], ev.item_index[order], ev.ts_us[order]
    same_user = user[1:] == user[:-1]
    assert np.all(np.diff(ts)[same_user] > 0), "a user's events have distinct, ordered times"
    # Sessions never interleave: each is one contiguous stretch of its user's history.
    boundaries = (session[1:] != session[:-1]) | ~same_user
    assert boundaries.sum() + 1 == np.unique(session).size
    opens = np.concatenate(([True], boundaries))
    assert np.all(kind[opens] == 0), "every session opens with a view"
    # click/add/purchase continue the funnel on the item just viewed/clicked/added.
    step = kind[1:] > 0
    assert np.all(kind[:-1][step] == kind[1:][step] - 1)
    assert np.all(item[:-1][step] == item[1:][step])
    shares = np.bincount(ev.type, minlength=4) / len(ev)
    assert shares[0] > 0.5 and shares[0] > shares[1] > shares[2] > shares[3]
    assert 0.03 <= shares[3] <= 0.08


def test_catalogue_fields(medium: SyntheticDataset) -> None:
    items = medium.items
    for item in items:
        ItemIn.model_validate(item)
        assert item["brand"] and item["category"] and item["title"]
        assert item["category_path"][-1] == item["category"] and len(item["category_path"]) == 2
        assert 2 <= len(item["tags"]) <= 5 and len(set(item["tags"])) == len(item["tags"])
        assert item["price"] > 0 and 0 < item["props"]["margin"] < 1
        assert item["created_at"].endswith("Z")
        assert item["props"]["cluster"]
    categories = {item["category"] for item in items}
    assert 10 <= len(categories) <= 14
    for category in categories:
        brands = {item["brand"] for item in items if item["category"] == category}
        assert 3 <= len(brands) <= 8
    unavailable = sum(not item["available"] for item in items) / len(items)
    assert unavailable == pytest.approx(0.03, abs=0.01)
    now_us = to_micros(NOW)
    recent = [
        now_us - to_micros(datetime.fromisoformat(item["created_at"])) < 7 * DAY_US
        for item in items
    ]
    assert sum(recent) / len(items) == pytest.approx(0.03, abs=0.015)
    assert all(("new" in item["tags"]) == fresh for item, fresh in zip(items, recent, strict=True))
    sizes = np.bincount(_item_codes(medium, "cluster"))
    assert np.median(sizes) >= 5 and sizes.max() <= 22
    for user in medium.users:
        UserIn.model_validate(user)
        assert user["traits"]["segment"] in SEGMENTS


def test_event_dicts_are_valid_api_events(medium: SyntheticDataset) -> None:
    ev = medium.events
    rows = medium.event_dicts(1_000, 6_000)
    assert len(rows) == 5_000
    assert [row["event_id"] for row in rows] == ev.event_ids(1_000, 6_000)
    item_ids = [item["item_id"] for item in medium.items]
    for n, row in enumerate(rows, start=1_000):
        parsed = EventIn.model_validate(row)
        assert isinstance(row["type"], int) and 0 <= row["type"] <= 3
        assert row["ts"].endswith("Z")
        assert parsed.ts is not None and to_micros(parsed.ts) == int(ev.ts_us[n])
        assert row["item_id"] == item_ids[int(ev.item_index[n])]
        assert row["meta"]["surface"] in SURFACES
        assert row["meta"]["session_id"] == f"s-2025-{int(ev.session_index[n])}"
    json.dumps(rows)
    assert medium.event_dicts(len(ev) - 2, len(ev) + 10) == medium.event_dicts(-2, len(ev))
    assert medium.event_dicts(5, 5) == []


def test_event_ids_are_unique_and_deterministic(medium: SyntheticDataset) -> None:
    ids = medium.events.event_ids(0, len(medium.events))
    assert len(set(ids)) == len(ids)
    assert medium.events.event_id(42) == "ev-2025-42" == ids[42]
    with pytest.raises(IndexError):
        medium.events.event_id(len(ids))


def test_stats_summarise_the_dataset(medium: SyntheticDataset) -> None:
    stats = medium.stats()
    json.dumps(stats)
    assert stats["events"] == sum(stats["events_per_type"].values()) == MEDIUM["n_events"]
    assert sum(stats["events_per_segment"].values()) == MEDIUM["n_events"]
    assert stats["users_per_segment"] == medium.segment_counts()
    assert 0 < stats["distinct_items_touched"] <= MEDIUM["n_items"]
    assert stats["time_span"]["span_days"] <= 90.0
    assert stats["time_span"]["first_ts"].endswith("Z")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_items": -1, "n_users": 1, "n_events": 0, "now": NOW},
        {"n_items": 1, "n_users": 1, "n_events": 1, "now": NOW, "days": 0.0},
        {"n_items": 0, "n_users": 1, "n_events": 1, "now": NOW},
        {"n_items": 1, "n_users": 0, "n_events": 1, "now": NOW},
        {"n_items": 1, "n_users": 1, "n_events": 1, "now": datetime(2026, 1, 1)},
    ],
)
def test_invalid_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(**kwargs)

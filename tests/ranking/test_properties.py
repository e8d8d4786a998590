"""Properties that hold for any request: unique items, at most k, exclusions and constraints
respected, caps held, and the same request always gives the same answer."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.config.knobs import defaults
from recsys.ranking import Constraints, RankRequest, build_pipeline
from recsys.signals.assemble import snapshot_from_records
from tests.ranking.shop import CATEGORIES, NOW, shop_events, shop_items, shop_snapshot

PIPELINE = build_pipeline()
USERS = ["u00", "u07", "u33", "anchor", "buyer", "sparse", "nostalgic", "newbie", "ghost", None]
TAGS = ["all", "sale", "c1-t0", "c2-t1", "c4-t2", "unknown-tag"]

constraints = st.builds(
    Constraints,
    include_tags_any=st.lists(st.sampled_from(TAGS), max_size=2).map(tuple),
    exclude_tags=st.lists(st.sampled_from(TAGS), max_size=2).map(tuple),
    brands=st.lists(st.sampled_from(["b0", "b1", "b2", "b3"]), max_size=2).map(tuple),
    categories=st.lists(st.sampled_from(CATEGORIES), max_size=2).map(tuple),
    price_min=st.one_of(st.none(), st.floats(0, 60)),
    price_max=st.one_of(st.none(), st.floats(0, 60)),
    created_after_us=st.one_of(st.none(), st.integers(NOW - 70 * 86_400_000_000, NOW)),
)


@settings(max_examples=150, deadline=None)
@given(
    user=st.sampled_from(USERS),
    k=st.integers(1, 60),
    c=constraints,
    exclude=st.lists(st.sampled_from([f"i{n:02d}" for n in range(60)]), max_size=8),
    brand_cap=st.integers(0, 4),
    category_cap=st.integers(0, 4),
    mmr=st.floats(0, 1),
)
def test_any_request_respects_its_contract(
    user, k, c, exclude, brand_cap, category_cap, mmr
) -> None:
    overrides = {"brand_cap": brand_cap, "category_cap": category_cap, "mmr_lambda": mmr}
    request = RankRequest(
        now_us=NOW,
        k=k,
        user_id=user,
        constraints=c,
        exclude_item_ids=tuple(exclude),
        knobs=defaults().with_overrides(overrides),
        explicit_knobs=frozenset(overrides),
    )
    result = PIPELINE.run(shop_snapshot(), request)
    ids = [i.item_id for i in result.items]
    assert len(ids) == len(set(ids)) <= k
    assert [i.rank for i in result.items] == list(range(1, len(ids) + 1))
    assert not set(ids) & set(exclude)
    assert "i59" not in ids  # unavailable
    items = {i["item_id"]: i for i in shop_items()}
    for item_id in ids:
        item = items[item_id]
        tags = set(item["tags"])
        if c.include_tags_any:
            assert tags & set(c.include_tags_any)
        assert not tags & set(c.exclude_tags)
        if c.brands:
            assert item["brand"] in c.brands
        if c.categories:
            assert item["category"] in c.categories
        if c.price_min is not None:
            assert item["price"] >= c.price_min
        if c.price_max is not None:
            assert item["price"] <= c.price_max
        if c.created_after_us is not None:
            assert item["created_at_us"] > c.created_after_us
    if brand_cap:
        assert max(np.bincount([int(i[1:]) % 4 for i in ids] or [0])) <= brand_cap or not ids
    if category_cap:
        assert max(np.bincount([int(i[1]) for i in ids] or [0])) <= category_cap or not ids
    assert result.trace["extras"]["policy"]["leaks"] == 0
    # Replaying the same request gives the very same answer.
    again = PIPELINE.run(shop_snapshot(), request)
    assert [(i.item_id, i.score) for i in again.items] == [
        (i.item_id, i.score) for i in result.items
    ]


def test_snapshot_does_not_depend_on_record_order() -> None:
    users, events = shop_events()
    items = shop_items()
    shuffled_items = items[:]
    random.Random(3).shuffle(shuffled_items)
    shuffled_users = users[:]
    random.Random(4).shuffle(shuffled_users)
    other = snapshot_from_records(
        items=shuffled_items, users=shuffled_users, events=events, reference_us=NOW
    )
    for user in USERS:
        request = RankRequest(now_us=NOW, k=20, user_id=user)
        a = PIPELINE.run(shop_snapshot(), request)
        b = PIPELINE.run(other, request)
        assert [(i.item_id, i.score) for i in a.items] == [(i.item_id, i.score) for i in b.items]


def test_events_after_now_are_ignored_for_the_user() -> None:
    """A request ranks as of its own `now`: later events of the user do not count."""
    users, events = shop_events()
    future = [{"user_id": "u00", "item_id": "i00", "type": 3, "ts_us": NOW + 86_400_000_000}]
    snapshot = snapshot_from_records(
        items=shop_items(), users=users, events=events + future, reference_us=NOW
    )
    result = PIPELINE.run(snapshot, RankRequest(now_us=NOW, k=60, user_id="u00"))
    assert "i00" in [i.item_id for i in result.items]  # the future purchase does not exclude it

"""Bucket keys: canonical, order-free, categorical entries only, bounded."""

from __future__ import annotations

import pytest

from recsys.bandit.buckets import (
    MAX_BUCKET_ENTRIES,
    BucketError,
    bucket_entries,
    bucket_key,
)


def test_empty_context_is_the_global_bucket() -> None:
    assert bucket_key({}) == "{}"


def test_key_order_does_not_matter() -> None:
    a = bucket_key({"device": "mobile", "locale": "de", "tier": 2})
    b = bucket_key({"tier": 2, "locale": "de", "device": "mobile"})
    assert a == b == '{"device":"mobile","locale":"de","tier":2}'


def test_only_categorical_entries_count() -> None:
    context = {
        "device": "mobile",
        "returning": True,
        "visits": 3,
        "price": 9.99,  # continuous: not a category
        "cart": ["a", "b"],
        "geo": {"country": "de"},
        "coupon": None,
        "surface": "home",  # reserved: a dimension of its own
        "as_of": "2026-11-20T00:00:00Z",  # reserved: a time
    }
    assert bucket_entries(context) == {"device": "mobile", "returning": True, "visits": 3}
    assert bucket_key(context) == '{"device":"mobile","returning":true,"visits":3}'


def test_types_stay_distinct() -> None:
    assert len({bucket_key({"x": 1}), bucket_key({"x": "1"}), bucket_key({"x": True})}) == 3


def test_non_ascii_is_kept_readable() -> None:
    assert bucket_key({"city": "Zürich"}) == '{"city":"Zürich"}'


def test_too_many_entries_are_refused() -> None:
    context = {f"k{n}": n for n in range(MAX_BUCKET_ENTRIES + 1)}
    with pytest.raises(BucketError, match="at most 8"):
        bucket_key(context)
    context.pop("k0")
    bucket_key(context | {"ignored": 1.5})  # floats do not count


def test_too_long_a_key_is_refused() -> None:
    with pytest.raises(BucketError, match="at most 256"):
        bucket_key({"session": "x" * 300})


def test_unstorable_text_is_refused() -> None:
    with pytest.raises(BucketError) as caught:
        bucket_key({"device": "mob\x00ile"})
    assert caught.value.key == "device"
    with pytest.raises(BucketError):
        bucket_key({"device": "\ud800"})
    with pytest.raises(BucketError) as caught:
        bucket_key({"\ud800": "x"})
    assert caught.value.key is None  # never echoed back

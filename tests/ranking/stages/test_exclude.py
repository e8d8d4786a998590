"""Exclude: the caller's ids, the user's own recent events, unavailable items; never in rerank."""

from __future__ import annotations

from recsys.ranking.stages.exclude import Exclude
from tests.ranking.stages.helpers import before, context, ids


def test_drops_explicit_bought_and_unavailable_items_counting_each_once() -> None:
    ctx = context({"popularity_fanout": 60}, user_id="buyer", exclude_item_ids=("i42", "i12"))
    incoming = before("exclude", ctx)
    assert {"i42", "i12", "i59"} <= set(ids(ctx, incoming))
    kept, trace = Exclude()(ctx, incoming)
    assert not {"i42", "i12", "i59"} & set(ids(ctx, kept))
    dropped = trace.as_json()["dropped"]
    assert dropped["explicit"] == 2  # i12 is also bought: it counts under its first reason
    assert dropped["unavailable"] == 1
    assert len(kept) == len(incoming) - sum(dropped.values())
    catalog = ctx.snapshot.catalog
    assert sorted(catalog.item_ids[trace.removed["explicit"]]) == ["i12", "i42"]
    assert list(catalog.item_ids[trace.removed["unavailable"]]) == ["i59"]


def test_dropping_keeps_the_columns_in_step() -> None:
    ctx = context({"popularity_fanout": 60}, user_id="buyer", exclude_item_ids=("i42",))
    incoming = before("exclude", ctx)
    kept, _ = Exclude()(ctx, incoming)
    by_item = dict(zip(incoming.items.tolist(), incoming.sources.tolist(), strict=True))
    assert [by_item[i] for i in kept.items.tolist()] == kept.sources.tolist()


def test_rerank_never_drops_a_callers_id() -> None:
    ctx = context(mode="rerank", candidate_item_ids=("i59", "i42"), exclude_item_ids=("i42",))
    incoming = before("exclude", ctx)
    kept, trace = Exclude()(ctx, incoming)
    assert ids(ctx, kept) == ["i42", "i59"] and trace.as_json()["dropped"] == {}

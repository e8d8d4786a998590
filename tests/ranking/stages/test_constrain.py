"""Constrain: only candidates that meet every constraint stay; rerank keeps the caller's ids."""

from __future__ import annotations

from recsys.ranking.request import Constraints
from recsys.ranking.stages.constrain import Constrain
from tests.ranking.stages.helpers import before, context, ids


def test_keeps_only_items_meeting_every_constraint() -> None:
    constraints = Constraints(categories=("c1",), price_min=12.0, price_max=16.0)
    ctx = context({"popularity_fanout": 60}, user_id="u01", constraints=constraints)
    incoming = before("constrain", ctx)
    kept, trace = Constrain()(ctx, incoming)
    # The shop's item n is in category c(n // 10) and costs n.
    expected = [i for i in ids(ctx, incoming) if i[1] == "1" and 12 <= int(i[1:]) <= 16]
    assert len(expected) >= 3 and ids(ctx, kept) == expected
    assert trace.as_json()["stage"] == "constraints"
    assert sum(trace.as_json()["dropped"].values()) == len(incoming) - len(expected)


def test_rerank_keeps_every_callers_id() -> None:
    ctx = context(
        mode="rerank", candidate_item_ids=("i01", "i22"), constraints=Constraints(brands=("b9",))
    )
    kept, _ = Constrain()(ctx, before("constrain", ctx))
    assert ids(ctx, kept) == ["i01", "i22"]

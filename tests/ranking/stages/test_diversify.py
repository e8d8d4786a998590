"""Diversify: MMR order over the scored rows, cut to k minus the pins, with caps."""

from __future__ import annotations

import numpy as np

from recsys.ranking.stages.diversify import AUDIT_CANDIDATES, Diversify
from tests.ranking.stages.helpers import before, context, ids


def test_lambda_one_is_the_score_order_cut_to_k() -> None:
    ctx = context({"mmr_lambda": 1.0}, user_id="u04", k=7)
    incoming = before("diversify", ctx)
    out, trace = Diversify()(ctx, incoming)
    by_score = np.lexsort((incoming.items, -incoming["score"]))[:7]
    assert out.items.tolist() == incoming.items[by_score].tolist()
    assert out["mmr_penalty"].tolist() == [0.0] * 7
    assert trace.as_json() == {
        "stage": "diversity",
        "mmr_lambda": 1.0,
        "similarity": "item_vectors",
        "cap_skips": 0,
    }
    assert len(trace.shortlist.items) == min(AUDIT_CANDIDATES, len(incoming))
    assert trace.shortlist.items[:7].tolist() == out.items.tolist()  # λ = 1: the same order
    assert trace.shortlist.scores[:7].tolist() == out["score"].tolist()


def test_caps_hold_and_columns_follow_the_order() -> None:
    ctx = context({"brand_cap": 2}, user_id="u05", k=8)
    incoming = before("diversify", ctx)
    out, trace = Diversify()(ctx, incoming)
    brands = [int(i[1:]) % 4 for i in ids(ctx, out)]
    assert max(np.bincount(brands)) <= 2 and trace.cap_skips > 0
    score = dict(zip(incoming.items.tolist(), incoming["score"].tolist(), strict=True))
    assert out["score"].tolist() == [score[i] for i in out.items.tolist()]


def test_rerank_keeps_every_row_capped_ones_last() -> None:
    caller = ("i00", "i04", "i08", "i20")  # brand b0 each
    ctx = context({"brand_cap": 1}, mode="rerank", candidate_item_ids=caller, k=4)
    out, _ = Diversify()(ctx, before("diversify", ctx))
    assert sorted(ids(ctx, out)) == sorted(caller) and len(out["mmr_penalty"]) == 4

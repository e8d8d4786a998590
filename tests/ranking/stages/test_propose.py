"""Propose: the popularity fan-out plus each personal source's neighbours; the caller's ids in
rerank."""

from __future__ import annotations

from recsys.ranking.candidates import SOURCE_CALLER
from recsys.ranking.stages.propose import Propose
from tests.ranking.stages.helpers import before, context, ids


def test_a_cold_user_gets_the_popularity_fan_out_and_the_starter_items() -> None:
    ctx = context({"new_user_pop_fanout": 5, "profile_starter_blend_weight": 0.0})
    proposed, trace = Propose()(ctx, before("propose", ctx))
    top5 = [str(ctx.snapshot.catalog.item_ids[i]) for i in ctx.popularity.order[:5]]
    assert sorted(ids(ctx, proposed)) == sorted(top5)
    assert trace.as_json() == {"stage": "candidates", "count": 5, "sources": {"popularity": 5}}


def test_a_known_user_gets_personal_sources_beyond_the_fan_out() -> None:
    ctx = context({"popularity_fanout": 3}, user_id="anchor")
    proposed, trace = Propose()(ctx, before("propose", ctx))
    assert len(proposed) > 3
    assert trace.sources["popularity"] == 3
    assert {"co_visitation", "item_vectors", "profile", "item_model"} <= set(trace.sources)
    assert "i07" in ids(ctx, proposed)  # bought after i05 by many: co-visitation proposes it
    assert (proposed.items[:-1] < proposed.items[1:]).all()  # one row per item, in id order


def test_rerank_proposes_exactly_the_callers_known_ids() -> None:
    ctx = context(mode="rerank", candidate_item_ids=("i09", "i03", "nope", "i03"), k=4)
    proposed, trace = Propose()(ctx, before("propose", ctx))
    assert ids(ctx, proposed) == ["i03", "i09"]
    assert set(proposed.sources.tolist()) == {SOURCE_CALLER}
    assert trace.sources == {"caller": 2}

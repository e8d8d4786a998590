"""Blend: each signal normalised to [0, 1] over the candidates, mixed with the effective weights;
in a scored rerank the caller's scores replace popularity."""

from __future__ import annotations

import numpy as np

from recsys.ranking.stages.blend import SIGNALS, Blend, normalised
from tests.ranking.stages.helpers import before, context, ids


def test_blend_is_the_weighted_sum_of_the_normalised_signals() -> None:
    weights = {
        "blend_alpha": 0.5,
        "blend_beta": 2.0,
        "blend_gamma": 0.25,
        "blend_delta": 1.0,
        "blend_epsilon": 0.75,
    }
    ctx = context(weights, user_id="anchor")
    blended, trace = Blend()(ctx, before("blend", ctx))
    for name in SIGNALS:
        norm = blended[f"{name}_norm"]
        assert norm.max() == 1.0 and norm.min() >= 0.0
        np.testing.assert_allclose(norm, blended[f"{name}_raw"] / blended[f"{name}_raw"].max())
    expected = sum(w * blended[f"{s}_norm"] for w, s in zip(weights.values(), SIGNALS, strict=True))
    np.testing.assert_allclose(blended["blend"], expected)
    assert trace.as_json() == {"stage": "blend", "base_signal": "popularity"}


def test_popularity_raw_signal_is_the_snapshots_popularity() -> None:
    ctx = context(user_id="u03")
    incoming = before("blend", ctx)
    blended, _ = Blend()(ctx, incoming)
    np.testing.assert_array_equal(blended["base_raw"], ctx.popularity.scores[incoming.items])


def test_caller_scores_replace_popularity_shifted_to_non_negative() -> None:
    ctx = context(
        mode="rerank",
        candidate_item_ids=("i01", "i02", "i03"),
        candidate_scores=(-1.0, 3.0, None),
        k=3,
    )
    blended, trace = Blend()(ctx, before("blend", ctx))
    assert ids(ctx, blended) == ["i01", "i02", "i03"]
    assert blended["base_raw"].tolist() == [0.0, 4.0, 1.0]  # missing score counts as 0
    assert trace.base_signal == "caller_score"


def test_normalised_is_zero_when_nothing_is_positive() -> None:
    assert normalised(np.array([0.0, 0.0])).tolist() == [0.0, 0.0]
    assert normalised(np.array([1.0, 4.0])).tolist() == [0.25, 1.0]

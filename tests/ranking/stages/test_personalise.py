"""Personalise: score = blend x (1 + PROFILE_BOOST x profile and starter overlap)."""

from __future__ import annotations

import numpy as np

from recsys.ranking.stages.personalise import Personalise
from tests.ranking.stages.helpers import before, context, ids


def test_score_multiplies_the_blend_by_the_profile_overlap() -> None:
    ctx = context({"profile_boost": 2.0}, user_id="u01")
    incoming = before("personalise", ctx)
    out, trace = Personalise()(ctx, incoming)
    assert ctx.user.starter_weight == 0.0  # a regular user: no starter profile
    expected = incoming["blend"] * (1.0 + 2.0 * out["user_overlap"])
    np.testing.assert_allclose(out["score"], expected)
    loved = np.array([i.startswith("i1") for i in ids(ctx, out)])
    assert out["user_overlap"][loved].mean() > out["user_overlap"][~loved].mean()
    assert trace.as_json() == {
        "stage": "personalisation",
        "profile_boost": 2.0,
        "attenuation": 1.0,
        "starter_weight": 0.0,
    }


def test_no_boost_leaves_the_blend_as_the_score() -> None:
    ctx = context({"profile_boost": 0.0}, user_id="u01")
    out, _ = Personalise()(ctx, before("personalise", ctx))
    np.testing.assert_array_equal(out["score"], out["blend"])


def test_a_sparse_user_is_attenuated_and_helped_by_the_starter_profile() -> None:
    knobs = {
        "profile_cold_start_multiplier": 0.25,
        "profile_starter_presets": {"default": {"c4": 1}},
    }
    ctx = context(knobs, user_id="sparse")
    incoming = before("personalise", ctx)
    out, trace = Personalise()(ctx, incoming)
    w, boost = ctx.user.starter_weight, ctx.request.knobs["profile_boost"]
    assert 0 < w < 1 and trace.attenuation == 0.25
    expected = 1 + boost * (0.25 * (1 - w) * out["user_overlap"] + w * out["starter_overlap"])
    np.testing.assert_allclose(out["multiplier"], expected)
    c4 = np.array([i.startswith("i4") for i in ids(ctx, out)])
    assert out["starter_overlap"][c4].min() > 0 and out["starter_overlap"][~c4].max() == 0

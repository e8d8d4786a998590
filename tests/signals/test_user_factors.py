"""User factors: ALS item factors fitted per snapshot, and a user's vector folded in from the
history the request sees, with the exact ALS user step."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from recsys.config.knobs import defaults
from recsys.data.interactions import build_interaction_log
from recsys.ranking import RankRequest, build_pipeline
from recsys.signals.snapshot import Snapshot, build_snapshot, heavy_signals_of
from recsys.signals.user_factors import (
    UserFactors,
    empty_user_factors,
    fit_user_factors,
    with_gram,
)
from tests.ranking.shop import NOW, shop_snapshot


def test_fold_in_is_the_exact_weighted_least_squares_user_step() -> None:
    """Against the objective written out over every item: confidence 1 + alpha and preference 1
    on the history, confidence 1 and preference 0 elsewhere."""
    rng = np.random.default_rng(4)
    factors = with_gram(rng.normal(size=(30, 5)).astype(np.float32), l2=0.7, alpha=3.0)
    history = np.array([4, 9, 9, 17])  # a repeat counts once
    y = factors.item_factors.astype(np.float64)
    confidence = np.ones(30)
    preference = np.zeros(30)
    confidence[[4, 9, 17]] = 4.0
    preference[[4, 9, 17]] = 1.0
    system = y.T @ (confidence[:, None] * y) + 0.7 * np.eye(5)
    expected = np.linalg.solve(system, y.T @ (confidence * preference))
    np.testing.assert_allclose(factors.fold_in(history), expected, rtol=1e-9)
    assert factors.fold_in(np.empty(0, np.int64)) is None
    assert empty_user_factors(30).fold_in(history) is None


def test_the_fit_ranks_a_users_own_taste_first() -> None:
    """Two groups of users with disjoint tastes: a user folded in from one group's items scores
    that group's other items above the other group's. Items nobody touched have no factors."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(40):
        group = u % 2
        for i in rng.choice(10, size=5, replace=False):
            users.append(u)
            items.append(group * 10 + int(i))

    def fit(dim: int) -> UserFactors:
        return fit_user_factors(
            user=np.asarray(users),
            item=np.asarray(items),
            n_users=40,
            n_items=25,
            dim=dim,
            l2=1.0,
            alpha=2.0,
            seed=1,
        )

    factors = fit(8)
    assert not factors.item_factors[20:].any()  # never touched
    taste = factors.fold_in(np.array([0, 1, 2]))
    assert taste is not None
    scores = factors.scores(taste)
    best = np.argsort(-scores[3:], kind="stable")[:5] + 3  # beyond the history
    assert (best < 10).all(), best
    assert scores[3:10].mean() > scores[10:20].mean() + 0.2
    np.testing.assert_array_equal(factors.item_factors, fit(8).item_factors)  # seeded
    off = fit(0)
    assert off.is_empty and off.fold_in(np.array([0])) is None


def test_a_new_event_counts_at_once_without_a_refit() -> None:
    """The factors are carried over from the snapshot before the event; the user's vector comes
    from the history the request sees, so their next list follows the new event."""
    shop = shop_snapshot()
    # A light regularisation: the small shop's 72 users would otherwise shrink every factor
    # towards the popularity direction, and any history would rank the same.
    params = replace(shop.params, user_factors_l2=1.0)
    before = build_snapshot(
        catalog=shop.catalog, users=shop.users, log=shop.log, params=params, reference_us=NOW
    )
    heavy = heavy_signals_of(before, built_at=0.0)
    pipeline = build_pipeline()
    knobs = defaults().with_overrides(
        {
            "blend_alpha": 0.0,
            "blend_beta": 0.0,
            "blend_gamma": 0.0,
            "blend_delta": 0.0,
            "blend_epsilon": 1.0,
            "profile_boost": 0.0,
            "mmr_lambda": 1.0,
            "user_factors_l2": 1.0,
        }
    )

    def category_3_placed(snapshot: Snapshot) -> float:
        """Rank-discounted count of category-3 items in u00's top 20."""
        request = RankRequest(now_us=NOW, knobs=knobs, user_id="u00", k=20)
        result = pipeline.run(snapshot, request)
        ids = [item.item_id for item in result.items]
        return sum(1 / np.log2(n + 2) for n, i in enumerate(ids) if i[1] == "3")

    # u00 loves category 0; after viewing eight items of category 3 its list turns towards it.
    earlier = category_3_placed(before)
    log = before.log
    new_items = before.catalog.indices_of([f"i3{n}" for n in range(8)])
    user = before.users.index["u00"]
    grown = build_interaction_log(
        user=np.concatenate([log.user, np.full(8, user)]),
        item=np.concatenate([log.item, new_items]),
        type=np.concatenate([log.type, np.zeros(8)]),
        value=np.concatenate([log.value, np.ones(8)]),
        ts_us=np.concatenate([log.ts_us, np.full(8, NOW - 1)]),
        n_users=before.users.size,
    )
    after = build_snapshot(
        catalog=before.catalog,
        users=before.users,
        log=grown,
        params=before.params,
        reference_us=NOW,
        reuse=heavy,
    )
    assert after.user_factors(*after.params.user_factors_setting) is heavy.user_factors
    assert category_3_placed(after) > earlier + 1.0

"""Every knob in the catalogue changes the ranking, and in the direction it promises.

The table must name every knob: adding a knob without a test here fails
`test_every_knob_has_a_row`.

Each row asserts on what the caller gets: the order or membership of the returned list, or the
score the list is sorted by -- never on a value the pipeline derives from the knob for display
(an explain contribution, a trace count). `test_row_fails_when_the_knob_is_ignored` keeps every
row honest: it runs the row against a pipeline that ranks as if the knob were left at its
default while its explain and trace still see the knob's value, and the row must fail."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from recsys.config.knobs import KNOBS, defaults
from recsys.policy.rules import Rule
from recsys.ranking import RankRequest, RankResult, build_pipeline
from recsys.signals.snapshot import Snapshot
from tests.ranking.shop import NOW, shop_rule, shop_snapshot
from tests.ranking.synthetic_shop import SYNTHETIC_USER, synthetic_snapshot

PIPELINE = build_pipeline()


def run(
    user: str | None,
    overrides: dict[str, Any],
    *,
    k: int = 10,
    surface: str | None = None,
    segment: str | None = None,
    rules: tuple[Rule, ...] = (),
    ignore: str | None = None,
    snapshot: Callable[[], Snapshot] = shop_snapshot,
) -> RankResult:
    """Rank with `overrides` on top of the catalogue defaults. With `ignore`, a deliberately
    broken pipeline: the list (items, order, scores) is ranked as if that knob were not
    overridden, while explain, reasons and trace come from the real run -- a pipeline that shows
    the knob but does not rank by it."""

    def rank(knobs: dict[str, Any]) -> RankResult:
        request = RankRequest(
            rules=rules,
            now_us=NOW,
            k=k,
            user_id=user,
            surface=surface,
            segment=segment,
            knobs=defaults().with_overrides(knobs),
            explicit_knobs=frozenset(knobs),
            include_reasons=True,
            explain_level="full",
        )
        return PIPELINE.run(snapshot(), request)

    shown = rank(overrides)
    if ignore is None:
        return shown
    ranked = rank({key: value for key, value in overrides.items() if key != ignore})
    display = {item.item_id: item for item in shown.items}
    items = tuple(
        replace(item, reasons=display[item.item_id].reasons, explain=display[item.item_id].explain)
        if item.item_id in display
        else item
        for item in ranked.items
    )
    return replace(shown, items=items, warnings=ranked.warnings, candidates=ranked.candidates)


def item_ids(result: RankResult) -> list[str]:
    return [i.item_id for i in result.items]


def category_of(item_id: str) -> int:
    return int(item_id[1])


def brand_of(item_id: str) -> int:
    return int(item_id[1:]) % 4


def mean_similarity(result: RankResult) -> float:
    """Intra-list similarity over item vectors (what MMR trades relevance for)."""
    snapshot = shop_snapshot()
    vectors = snapshot.item_vectors
    assert vectors is not None
    idx = snapshot.catalog.indices_of(item_ids(result))
    v = vectors[idx]
    sim = v @ v.T
    n = len(idx)
    return float((sim.sum() - np.trace(sim)) / (n * (n - 1)))


@dataclass(frozen=True)
class Case:
    knob: str
    low: Any
    high: Any
    user: str | None
    # Given (result at low, result at high), assert the knob did what it promises.
    check: Callable[[RankResult, RankResult], None]
    k: int = 10
    surface: str | None = None
    segment: str | None = None
    base: tuple[tuple[str, Any], ...] = ()
    rules: tuple[Rule, ...] = ()
    snapshot: Callable[[], Snapshot] = shop_snapshot


def differs(low: RankResult, high: RankResult) -> None:
    assert [(i.item_id, i.score) for i in low.items] != [(i.item_id, i.score) for i in high.items]


def position(result: RankResult, item: str) -> int:
    ids = item_ids(result)
    return ids.index(item) if item in ids else len(ids) + 1


def moves_up(item: str) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        assert position(high, item) < position(low, item), (item_ids(low), item_ids(high))

    return check


def dcg(ids: list[str], gain: Callable[[str], float]) -> float:
    """Position-discounted sum of a per-item gain over a returned list."""
    return sum(gain(item) / math.log2(n + 2) for n, item in enumerate(ids))


BLEND_WEIGHTS = ("blend_alpha", "blend_beta", "blend_gamma", "blend_delta", "blend_epsilon")


def leans_towards(weight: str, user: str, k: int = 10) -> Callable[[RankResult, RankResult], None]:
    """More weight on a signal brings the list closer to the list that signal alone ranks
    (same user, no diversification, no personalisation): rank-discounted agreement grows."""
    prefix = "new_user_" if weight.startswith("new_user_") else ""
    alone = {f"{prefix}{w}": 0.0 for w in BLEND_WEIGHTS} | {weight: 1.0}
    alone |= {f"{prefix}mmr_lambda": 1.0, "profile_boost": 0.0}
    alone |= {"profile_starter_blend_weight": 0.0}

    def check(low: RankResult, high: RankResult) -> None:
        reference = {item: n for n, item in enumerate(item_ids(run(user, alone, k=k)))}

        def agreement(r: RankResult) -> float:
            return dcg(
                item_ids(r), lambda i: 1 / math.log2(reference[i] + 2) if i in reference else 0.0
            )

        assert agreement(high) > agreement(low), (item_ids(low), item_ids(high))

    return check


def more_popular_items(
    snapshot: Callable[[], Snapshot],
) -> Callable[[RankResult, RankResult], None]:
    """The list holds more of the catalogue's 50 most popular items (by the snapshot's own
    popularity at the default half-life)."""

    def check(low: RankResult, high: RankResult) -> None:
        snap = snapshot()
        scores = snap.popularity(defaults()["popularity_halflife_days"]).scores
        top = {str(snap.catalog.item_ids[i]) for i in np.argsort(-scores, kind="stable")[:50]}

        def count(r: RankResult) -> int:
            return sum(1 for i in item_ids(r) if i in top)

        assert count(high) > count(low)

    return check


def longer_list(low: RankResult, high: RankResult) -> None:
    assert len(low.items) < len(high.items)


# Rank by the item model alone, without diversification, so its own knobs show.
ITEM_MODEL_ONLY = (
    ("blend_alpha", 0.0),
    ("blend_beta", 0.0),
    ("blend_gamma", 0.0),
    ("blend_delta", 1.0),
    ("blend_epsilon", 0.0),
    ("profile_boost", 0.0),
    ("mmr_lambda", 1.0),
)
# Rank by the user factors alone, without diversification.
USER_FACTORS_ONLY = (
    ("blend_alpha", 0.0),
    ("blend_beta", 0.0),
    ("blend_gamma", 0.0),
    ("blend_delta", 0.0),
    ("blend_epsilon", 1.0),
    ("profile_boost", 0.0),
    ("mmr_lambda", 1.0),
)


def excluded_only_when(item: str, excluded_at: str) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        excluded, shown = (low, high) if excluded_at == "low" else (high, low)
        assert item not in item_ids(excluded) and item in item_ids(shown)

    return check


def more_diverse_at_low(low: RankResult, high: RankResult) -> None:
    assert mean_similarity(low) < mean_similarity(high)


def cap_holds(attr: Callable[[str], int], cap: int) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        counts = np.bincount([attr(i) for i in item_ids(low)])
        assert counts.max() <= cap
        assert np.bincount([attr(i) for i in item_ids(high)]).max() > cap

    return check


def starter_matters_more(low: RankResult, high: RankResult) -> None:
    def starter_share(r: RankResult) -> float:
        return sum(i.explain["starter_overlap"] for i in r.items if i.explain)

    assert (
        low.trace["extras"].get("starter_profile", {}).get("weight", 0)
        < high.trace["extras"]["starter_profile"]["weight"]
    )
    assert starter_share(high) >= starter_share(low)
    differs(low, high)


def category_dominates(category: int) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        def count(r: RankResult) -> int:
            return sum(1 for i in item_ids(r) if category_of(i) == category)

        assert count(high) > count(low), (item_ids(low), item_ids(high))

    return check


def category_rises(category: int) -> Callable[[RankResult, RankResult], None]:
    """Items of the category the user loves take more, or higher, places."""

    def check(low: RankResult, high: RankResult) -> None:
        def placed(r: RankResult) -> float:
            return dcg(item_ids(r), lambda i: float(category_of(i) == category))

        assert placed(high) > placed(low), (item_ids(low), item_ids(high))

    return check


# Rank by popularity alone, without diversification, so that personalisation shows.
POPULARITY_ONLY = (
    ("blend_alpha", 1.0),
    ("blend_beta", 0.0),
    ("blend_gamma", 0.0),
    ("blend_delta", 0.0),
    ("blend_epsilon", 0.0),
    ("mmr_lambda", 1.0),
)
NEW_USER_POPULARITY_ONLY = (
    ("new_user_blend_alpha", 1.0),
    ("new_user_blend_beta", 0.0),
    ("new_user_blend_gamma", 0.0),
    ("new_user_blend_delta", 0.0),
    ("new_user_blend_epsilon", 0.0),
    ("new_user_mmr_lambda", 1.0),
    ("profile_starter_blend_weight", 0.0),
)


CASES = [
    Case("blend_alpha", 0.0, 5.0, "u01", leans_towards("blend_alpha", "u01")),
    Case("blend_beta", 0.0, 5.0, "anchor", leans_towards("blend_beta", "anchor", k=5), k=5),
    Case("blend_gamma", 0.0, 5.0, "u02", leans_towards("blend_gamma", "u02")),
    Case(
        "popularity_fanout",
        5,
        500,
        SYNTHETIC_USER,
        more_popular_items(synthetic_snapshot),
        k=100,
        # Popularity must carry weight for its candidates to reach the list, and the user
        # factors (which propose the popular items this user would like anyway) stay out.
        base=(("blend_alpha", 0.5), ("blend_epsilon", 0.0)),
        snapshot=synthetic_snapshot,
    ),
    Case(
        "popularity_halflife_days",
        1.0,
        1000.0,
        "zz-cold",
        moves_up("i31"),
        k=60,
        base=(("new_user_mmr_lambda", 1.0), ("profile_starter_blend_weight", 0.0)),
    ),
    Case(
        "covis_window_days",
        0.01,
        30.0,
        "anchor",
        moves_up("i07"),
        k=5,
        base=(("blend_delta", 0.0),),
    ),
    Case("blend_delta", 0.0, 5.0, "u02", leans_towards("blend_delta", "u02")),
    Case("item_model_l2", 1.0, 1e6, "u02", differs, base=ITEM_MODEL_ONLY),
    Case("item_model_max_items", 2, 3000, "u02", differs, base=ITEM_MODEL_ONLY),
    Case("blend_epsilon", 0.0, 5.0, "u02", leans_towards("blend_epsilon", "u02")),
    Case("user_factors_dim", 2, 32, "u02", differs, base=USER_FACTORS_ONLY),
    Case("user_factors_l2", 0.1, 1e4, "u02", differs, base=USER_FACTORS_ONLY),
    Case("user_factors_alpha", 0.0, 50.0, "u02", differs, base=USER_FACTORS_ONLY),
    Case("rule_exclude_events", True, False, "buyer", excluded_only_when("i12", "low"), k=60),
    Case("exclude_event_types", [3], [0, 3], "buyer", excluded_only_when("i10", "high"), k=60),
    Case("purchased_window_days", 0.5, 30.0, "buyer", excluded_only_when("i12", "high"), k=60),
    Case("mmr_lambda", 0.2, 1.0, "u04", more_diverse_at_low),
    Case(
        "mmr_presets",
        {},
        {"home": 0.1},
        "u04",
        lambda low, high: more_diverse_at_low(high, low),
        surface="home",
    ),
    Case("brand_cap", 2, 0, "u05", cap_holds(brand_of, 2)),
    Case("category_cap", 3, 0, "u05", cap_holds(category_of, 3)),
    Case("profile_boost", 0.0, 5.0, "u00", category_rises(0), base=POPULARITY_ONLY),
    Case("profile_window_days", 30.0, 365.0, "nostalgic", category_dominates(5), k=10),
    Case("profile_top_n", 1, 50, "u01", differs),
    Case("profile_min_events_for_boost", 100, 1, "u00", category_rises(0)),
    Case(
        "profile_cold_start_multiplier",
        0.0,
        1.0,
        "sparse",
        category_rises(2),
        base=NEW_USER_POPULARITY_ONLY,
    ),
    Case("profile_starter_blend_weight", 0.1, 1.0, "sparse", starter_matters_more),
    Case("profile_starter_decay_events", 2, 50, "sparse", starter_matters_more),
    Case(
        "profile_starter_presets",
        {},
        {"fans_3": {"c3": 1.0}},
        "newbie",
        category_dominates(3),
        segment="fans_3",
        base=(("profile_boost", 3.0), ("new_user_mmr_lambda", 1.0)),
    ),
    Case(
        "new_user_blend_alpha", 0.0, 5.0, "newbie", leans_towards("new_user_blend_alpha", "newbie")
    ),
    Case(
        "new_user_blend_beta",
        0.0,
        5.0,
        "sparse",
        leans_towards("new_user_blend_beta", "sparse"),
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_gamma", 0.0)),
    ),
    Case(
        "new_user_blend_gamma",
        0.0,
        5.0,
        "sparse",
        leans_towards("new_user_blend_gamma", "sparse"),
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_beta", 0.0)),
    ),
    Case(
        "new_user_blend_delta",
        0.0,
        5.0,
        "sparse",
        leans_towards("new_user_blend_delta", "sparse"),
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_beta", 0.0)),
    ),
    Case(
        "new_user_blend_epsilon",
        0.0,
        5.0,
        "sparse",
        leans_towards("new_user_blend_epsilon", "sparse"),
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_beta", 0.0)),
    ),
    Case(
        "new_user_pop_fanout",
        3,
        800,
        "newbie",
        longer_list,
        base=(("profile_starter_blend_weight", 0.0),),
    ),
    Case(
        "new_user_mmr_lambda",
        0.1,
        1.0,
        "newbie",
        more_diverse_at_low,
        base=(("profile_starter_blend_weight", 0.0),),
    ),
]

PINS = tuple(
    shop_rule(f"pin-{n}", "PIN", "ITEM", item_ids=(item,), position=n + 1)
    for n, item in enumerate(["i50", "i51", "i52", "i53"])
)
BLOCK_C1 = (shop_rule("block", "BLOCK", "CATEGORY", target_key="c1"),)


def pinned_count(result: RankResult) -> int:
    return sum(1 for i in item_ids(result)[:4] if i in {"i50", "i51", "i52", "i53"})


def more_pins(low: RankResult, high: RankResult) -> None:
    assert pinned_count(low) == 1 and pinned_count(high) == 4


def rules_obeyed_only_when_enabled(low: RankResult, high: RankResult) -> None:
    assert any(category_of(i) == 1 for i in item_ids(low))
    assert not any(category_of(i) == 1 for i in item_ids(high))


CASES += [
    Case("rules_enable", False, True, "u01", rules_obeyed_only_when_enabled, rules=BLOCK_C1),
    Case("rules_max_pin_slots", 1, 4, "u01", more_pins, rules=PINS),
]


def test_every_knob_has_a_row() -> None:
    assert {c.knob for c in CASES} == {k.key for k in KNOBS}


def run_case(case: Case, ignore: str | None = None) -> tuple[RankResult, RankResult]:
    """The row's two rankings, at its low and its high value."""
    low, high = (
        run(
            case.user,
            {**dict(case.base), case.knob: value},
            k=case.k,
            surface=case.surface,
            segment=case.segment,
            rules=case.rules,
            ignore=ignore,
            snapshot=case.snapshot,
        )
        for value in (case.low, case.high)
    )
    return low, high


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.knob)
def test_knob_changes_the_ranking(case: Case) -> None:
    case.check(*run_case(case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.knob)
def test_row_fails_when_the_knob_is_ignored(case: Case) -> None:
    low, high = run_case(case, ignore=case.knob)
    with pytest.raises(AssertionError):
        case.check(low, high)

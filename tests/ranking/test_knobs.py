"""Every knob in the catalogue changes the ranking, and in the direction it promises.

The table must name every knob: adding a knob without a test here fails
`test_every_knob_has_a_row`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from recsys.config.knobs import KNOBS, defaults
from recsys.policy.rules import Rule
from recsys.ranking import RankRequest, RankResult, build_pipeline
from tests.ranking.shop import NOW, shop_snapshot

PIPELINE = build_pipeline()


def run(
    user: str | None,
    overrides: dict[str, Any],
    *,
    k: int = 10,
    surface: str | None = None,
    segment: str | None = None,
    rules: tuple[Rule, ...] = (),
) -> RankResult:
    request = RankRequest(
        rules=rules,
        now_us=NOW,
        k=k,
        user_id=user,
        surface=surface,
        segment=segment,
        knobs=defaults().with_overrides(overrides),
        explicit_knobs=frozenset(overrides),
        include_reasons=True,
        explain_level="full",
    )
    return PIPELINE.run(shop_snapshot(), request)


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


def differs(low: RankResult, high: RankResult) -> None:
    assert [(i.item_id, i.score) for i in low.items] != [(i.item_id, i.score) for i in high.items]


def position(result: RankResult, item: str) -> int:
    ids = item_ids(result)
    return ids.index(item) if item in ids else len(ids) + 1


def blend_share(result: RankResult, part: str) -> float:
    return sum(i.explain["blend"].get(part, 0.0) for i in result.items if i.explain)


def moves_up(item: str) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        assert position(high, item) < position(low, item), (item_ids(low), item_ids(high))

    return check


def share_grows(part: str) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        assert blend_share(high, part) > blend_share(low, part)

    return check


def fewer_candidates(low: RankResult, high: RankResult) -> None:
    def proposed(r: RankResult) -> int:
        return int(r.trace["extras"]["candidate_sources"].get("popularity", 0))

    assert proposed(low) < proposed(high)


def more_sourced(source: str) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        def proposed(r: RankResult) -> int:
            return int(r.trace["extras"]["candidate_sources"].get(source, 0))

        assert proposed(low) < proposed(high)

    return check


# Rank by the item model alone, without diversification, so its own knobs show.
ITEM_MODEL_ONLY = (
    ("blend_alpha", 0.0),
    ("blend_beta", 0.0),
    ("blend_gamma", 0.0),
    ("blend_delta", 1.0),
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


def multiplier_grows(low: RankResult, high: RankResult) -> None:
    def total(r: RankResult) -> float:
        return sum(i.explain["personalisation_multiplier"] for i in r.items if i.explain)

    assert total(high) > total(low)


def category_dominates(category: int) -> Callable[[RankResult, RankResult], None]:
    def check(low: RankResult, high: RankResult) -> None:
        def count(r: RankResult) -> int:
            return sum(1 for i in item_ids(r) if category_of(i) == category)

        assert count(high) > count(low), (item_ids(low), item_ids(high))

    return check


CASES = [
    Case("blend_alpha", 0.0, 5.0, "u01", share_grows("popularity")),
    Case("blend_beta", 0.0, 5.0, "anchor", share_grows("co_visitation"), k=5),
    Case("blend_gamma", 0.0, 5.0, "u02", share_grows("item_similarity")),
    Case("popularity_fanout", 3, 500, "u03", fewer_candidates),
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
    Case("blend_delta", 0.0, 5.0, "u02", share_grows("item_model")),
    Case("item_model_l2", 1.0, 1e6, "u02", differs, base=ITEM_MODEL_ONLY),
    Case("item_model_max_items", 2, 3000, "u02", more_sourced("item_model"), base=ITEM_MODEL_ONLY),
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
    Case("profile_boost", 0.0, 5.0, "u00", multiplier_grows),
    Case("profile_window_days", 30.0, 365.0, "nostalgic", category_dominates(5), k=10),
    Case("profile_top_n", 1, 50, "u01", differs),
    Case("profile_min_events_for_boost", 100, 1, "u00", multiplier_grows),
    Case(
        "profile_cold_start_multiplier",
        0.0,
        1.0,
        "sparse",
        multiplier_grows,
        base=(("profile_starter_blend_weight", 0.0),),
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
    Case("new_user_blend_alpha", 0.0, 5.0, "newbie", share_grows("popularity")),
    Case(
        "new_user_blend_beta",
        0.0,
        5.0,
        "sparse",
        differs,
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_gamma", 0.0)),
    ),
    Case(
        "new_user_blend_gamma",
        0.0,
        5.0,
        "sparse",
        differs,
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_beta", 0.0)),
    ),
    Case(
        "new_user_blend_delta",
        0.0,
        5.0,
        "sparse",
        share_grows("item_model"),
        base=(("new_user_blend_alpha", 0.0), ("new_user_blend_beta", 0.0)),
    ),
    Case(
        "new_user_pop_fanout",
        3,
        800,
        "newbie",
        fewer_candidates,
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
    Rule(
        rule_id=f"pin-{n}",
        namespace="shop",
        surface="*",
        name="pin",
        action="PIN",
        target_type="ITEM",
        item_ids=(item,),
        position=n + 1,
    )
    for n, item in enumerate(["i50", "i51", "i52", "i53"])
)
BLOCK_C1 = (
    Rule(
        rule_id="block",
        namespace="shop",
        surface="*",
        name="no c1",
        action="BLOCK",
        target_type="CATEGORY",
        target_key="c1",
    ),
)


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


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.knob)
def test_knob_changes_the_ranking(case: Case) -> None:
    base = dict(case.base)
    low = run(
        case.user,
        {**base, case.knob: case.low},
        k=case.k,
        surface=case.surface,
        segment=case.segment,
        rules=case.rules,
    )
    high = run(
        case.user,
        {**base, case.knob: case.high},
        k=case.k,
        surface=case.surface,
        segment=case.segment,
        rules=case.rules,
    )
    case.check(low, high)

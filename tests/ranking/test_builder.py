"""The one request builder: traits from the snapshot, the resolved policy, the RankRequest; and
the only place in the code base that constructs a RankRequest."""

from __future__ import annotations

import re
from pathlib import Path

from recsys.config.knobs import defaults
from recsys.policy.namespace import NamespacePolicy
from recsys.policy.segments import Segment, SegmentRule
from recsys.ranking.builder import build_request, user_traits
from recsys.ranking.request import Constraints
from tests.ranking.shop import NOW, shop_rule, shop_snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_a_known_users_trait_segment_picks_the_starter_preset_and_rules() -> None:
    rule = shop_rule("r", "BLOCK", "CATEGORY", target_key="c1", segment_id="fans_1")
    policy = NamespacePolicy(rules=(rule,))
    built = build_request(
        shop_snapshot(), policy, base_knobs=defaults(), now_us=NOW, k=5, user_id="u01"
    )
    assert user_traits(shop_snapshot(), "u01") == {"segment": "fans_1"}
    assert built.request.segment == "fans_1" and built.request.rules == (rule,)
    other = build_request(
        shop_snapshot(), policy, base_knobs=defaults(), now_us=NOW, k=5, user_id="u02"
    )
    assert other.request.rules == ()
    anonymous = build_request(shop_snapshot(), policy, base_knobs=defaults(), now_us=NOW, k=5)
    assert anonymous.request.segment is None and user_traits(shop_snapshot(), None) == {}


def test_knobs_stack_namespace_then_segment_profile_then_overrides() -> None:
    segment = Segment(
        segment_id="campaign",
        profile_id="explorer",
        rules=(SegmentRule({"eq": ["ctx.campaign", "x"]}),),
    )
    policy = NamespacePolicy(
        config={"mmr_lambda": 0.5, "blend_alpha": 0.3},
        segments=(segment,),
        profiles={"explorer": {"mmr_lambda": 0.4, "brand_cap": 2}},
    )
    built = build_request(
        shop_snapshot(),
        policy,
        base_knobs=defaults(),
        now_us=NOW,
        k=5,
        user_id="u01",
        context={"campaign": "x"},
        overrides={"brand_cap": 3},
        mode="rerank",
        candidate_item_ids=["i01"],
        candidate_scores=[1.0],
        constraints=Constraints(brands=("b1",)),
    )
    knobs = built.request.knobs
    assert (knobs["blend_alpha"], knobs["mmr_lambda"], knobs["brand_cap"]) == (0.3, 0.4, 3)
    assert built.request.explicit_knobs == frozenset({"brand_cap"})
    assert built.resolved.segment_id == "campaign" and built.resolved.profile_id == "explorer"
    assert built.request.segment == "campaign"  # the matching segment beats the trait
    assert built.request.candidate_item_ids == ("i01",)
    assert built.request.constraints.brands == ("b1",)


def test_rank_request_is_constructed_in_the_builder_only() -> None:
    constructs = re.compile(r"\bRankRequest\(")
    places = [
        str(path.relative_to(ROOT))
        for folder in ("src", "bench", "analysis")
        for path in (ROOT / folder).rglob("*.py")
        if constructs.search(path.read_text())
    ]
    assert places == ["src/recsys/ranking/builder.py"]

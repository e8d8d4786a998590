"""Rules: BLOCK drops rows, BOOST adds to the score, PIN moves items out of the rows into pins."""

from __future__ import annotations

import numpy as np

from recsys.policy.rules import Rule
from recsys.ranking.stages.rules import Rules
from tests.ranking.shop import shop_rule
from tests.ranking.stages.helpers import before, context, ids


def rule(action: str, target_type: str, **fields: object) -> Rule:
    return shop_rule(f"r-{action}-{fields.get('target_key', '')}", action, target_type, **fields)


RULES = (
    rule("BLOCK", "CATEGORY", target_key="c0"),
    rule("BOOST", "TAG", target_key="sale", boost_value=0.5),
    rule("PIN", "ITEM", item_ids=("i33",), position=2),
)


def test_block_boost_and_pin() -> None:
    ctx = context({"popularity_fanout": 60}, user_id="u02", rules=RULES)
    incoming = before("rules", ctx)
    out, trace = Rules()(ctx, incoming)
    kept = ids(ctx, out)
    assert not any(i.startswith("i0") for i in kept)  # c0 blocked
    assert "i33" not in kept and [(p.slot, p.item) for p in out.pins] == [
        (1, ctx.snapshot.catalog.index["i33"])
    ]
    before_score = dict(zip(ids(ctx, incoming), incoming["score"].tolist(), strict=True))
    for item, score in zip(kept, out["score"].tolist(), strict=True):
        sale = int(item[1:]) % 5 == 0
        assert np.isclose(score, before_score[item] + (0.5 if sale else 0.0))
    blocked = [i for i in ids(ctx, incoming) if i.startswith("i0")]
    assert trace.actions["BLOCK"] == len(blocked) > 0 and trace.actions["PIN"] == 1
    assert trace.as_json()["touched"]["PIN"] == ["i33"]


def test_rules_off_changes_nothing() -> None:
    ctx = context({"rules_enable": False}, user_id="u02", rules=RULES)
    incoming = before("rules", ctx)
    out, trace = Rules()(ctx, incoming)
    assert out is incoming and trace.as_json()["actions"] == {}


def test_a_pin_never_brings_back_an_excluded_item() -> None:
    pin = (rule("PIN", "ITEM", item_ids=("i59",), position=1),)  # i59 is unavailable
    ctx = context(user_id="u02", rules=pin)
    out, _ = Rules()(ctx, before("rules", ctx))
    assert out.pins == ()

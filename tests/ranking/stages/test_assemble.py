"""Assemble: rows and pins become the ranked list; traces become the trace JSON."""

from __future__ import annotations

from recsys.ranking.assemble import assemble
from tests.ranking.shop import shop_rule
from tests.ranking.stages.helpers import context, run_until

PIN = shop_rule("pin", "PIN", "ITEM", item_ids=("i33",), position=3)


def test_pins_take_their_slots_and_ranks_follow() -> None:
    ctx = context(user_id="u02", rules=(PIN,), include_reasons=True, explain_level="numeric")
    rows, traces = run_until("diversify", ctx)
    result = assemble(ctx, rows, traces)
    listed = [item.item_id for item in result.items]
    assert listed[2] == "i33" and result.items[2].reasons == ("pinned",)
    assert [item.rank for item in result.items] == list(range(1, 11))
    assert listed[:2] + listed[3:] == [str(ctx.snapshot.catalog.item_ids[i]) for i in rows.items]
    for item, row in zip(result.items[3:], range(2, len(rows)), strict=False):
        assert item.score == round(float(rows["score"][row]), 6)
        assert item.explain is not None and item.explain["mmr_penalty"] == round(
            float(rows["mmr_penalty"][row]), 6
        )


def test_trace_renders_every_stage_in_order() -> None:
    ctx = context(user_id="u02")
    rows, traces = run_until("diversify", ctx)
    trace = assemble(ctx, rows, traces).trace
    assert [s["stage"] for s in trace["stages"]] == [
        "candidates",
        "exclusions",
        "constraints",
        "blend",
        "personalisation",
        "rules",
        "diversity",
    ]
    assert trace["extras"]["policy"]["leaks"] == 0
    assert trace["extras"]["policy"]["candidates"] == trace["stages"][0]["count"]


def test_rerank_appends_unknown_ids_last_with_score_zero() -> None:
    ctx = context(mode="rerank", candidate_item_ids=("zz", "i01", "yy"), include_reasons=True, k=3)
    rows, traces = run_until("diversify", ctx)
    items = assemble(ctx, rows, traces).items
    assert [(i.item_id, i.score) for i in items[1:]] == [("zz", 0.0), ("yy", 0.0)]
    assert items[2].reasons == ("unknown_item",)


def test_a_short_list_warns() -> None:
    ctx = context({"brand_cap": 1, "category_cap": 1}, user_id="u02", k=20)
    rows, traces = run_until("diversify", ctx)
    result = assemble(ctx, rows, traces)
    assert len(result.items) < 20
    assert result.warnings == (
        f"only {len(result.items)} items satisfied the filters, caps and constraints",
    )

"""Assemble: the diversified rows and the pins become the ranked list (pins at their slots),
each item with its score, reasons and explanation; the typed stage traces become the trace JSON
and its extras (policy summary, sources, user, effective knobs, starter profile)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from recsys.data.catalog import Catalog
from recsys.ranking.candidates import SOURCE_NAMES, CandidateSet
from recsys.ranking.filters import constraint_masks
from recsys.ranking.request import RankedItem, RankRequest, RankResult
from recsys.ranking.stage import RankContext, StageTrace
from recsys.ranking.stages.blend import BlendTrace
from recsys.ranking.stages.diversify import DiversifyTrace
from recsys.ranking.stages.filtering import DropTrace
from recsys.ranking.stages.propose import ProposeTrace
from recsys.ranking.stages.rules import RulesTrace

# A signal is named as a reason when it contributes at least this share of the blended score.
REASON_SHARE = 0.15
# Explain's display name of each blended signal after the base (popularity or caller score).
_PART_NAMES = ("co_visitation", "item_similarity", "item_model", "user_factors")

T = TypeVar("T")


def assemble(
    context: RankContext, candidates: CandidateSet, traces: Sequence[StageTrace]
) -> RankResult:
    request, catalog = context.request, context.snapshot.catalog
    base_name = _find(traces, BlendTrace).base_signal
    rules = _find(traces, RulesTrace)
    listed = _listed(context, candidates, base_name)
    for pin in candidates.pins:
        listed.insert(min(pin.slot, len(listed)), _pinned(catalog, pin.item, request))
    boosted = set(rules.touched.get("BOOST", ()))
    ranked = [
        RankedItem(
            item_id,
            score,
            rank,
            (*reasons, "boosted") if reasons is not None and item_id in boosted else reasons,
            explain,
        )
        for rank, (item_id, score, reasons, explain) in enumerate(listed, start=1)
    ]
    if request.mode == "rerank":
        known = set(catalog.index)
        for item_id in dict.fromkeys(request.candidate_item_ids):
            if item_id not in known:
                reasons = ("unknown_item",) if request.include_reasons else None
                ranked.append(RankedItem(item_id, 0.0, len(ranked) + 1, reasons))
    warnings: tuple[str, ...] = ()
    if len(ranked) < request.k and request.mode == "recommend":
        warnings = (f"only {len(ranked)} items satisfied the filters, caps and constraints",)
    shortlist = _find(traces, DiversifyTrace).shortlist
    return RankResult(
        items=tuple(ranked),
        trace={"stages": [t.as_json() for t in traces], "extras": _extras(context, traces, ranked)},
        warnings=warnings,
        candidates=tuple(
            (str(item_id), round(score, 6))
            for item_id, score in zip(
                catalog.item_ids[shortlist.items], shortlist.scores.tolist(), strict=True
            )
        ),
    )


def _find(traces: Sequence[StageTrace], kind: type[T]) -> T:
    return next(t for t in traces if isinstance(t, kind))


# One listed item before its rank is known: item id, score, reasons, explanation.
Listed = tuple[str, float, tuple[str, ...] | None, dict[str, Any] | None]


def _pinned(catalog: Catalog, item: int, request: RankRequest) -> Listed:
    return (
        str(catalog.item_ids[item]),
        0.0,
        ("pinned",) if request.include_reasons else None,
        {"pinned": True} if request.explain_level != "none" else None,
    )


def _listed(context: RankContext, candidates: CandidateSet, base_name: str) -> list[Listed]:
    """The rows in their order, with reasons and explanations only when the request asks."""
    request = context.request
    ids = [str(i) for i in context.snapshot.catalog.item_ids[candidates.items]]
    scores = [round(score, 6) for score in candidates["score"].tolist()]
    if not request.include_reasons and request.explain_level == "none":
        return [(item_id, score, None, None) for item_id, score in zip(ids, scores, strict=True)]
    return [
        (ids[row], scores[row], *_detail(context, candidates, row, base_name))
        for row in range(len(ids))
    ]


def _detail(
    context: RankContext, candidates: CandidateSet, row: int, base_name: str
) -> tuple[tuple[str, ...] | None, dict[str, Any] | None]:
    request, knobs = context.request, context.knobs
    weights = (knobs.alpha, knobs.beta, knobs.gamma, knobs.delta, knobs.epsilon)
    names = (base_name, *_PART_NAMES)
    columns = ("base", *_PART_NAMES)
    parts = {
        name: weight * candidates[f"{column}_norm"][row]
        for name, column, weight in zip(names, columns, weights, strict=True)
    }
    blend = candidates["blend"][row]
    user_overlap = candidates["user_overlap"][row]
    starter_overlap = candidates["starter_overlap"][row]
    item = int(candidates.items[row])
    reasons = None
    if request.include_reasons:
        reasons = _reasons(context, parts, blend, user_overlap, starter_overlap)
    explain = None
    if request.explain_level != "none":
        explain = _explain(
            context,
            item,
            parts,
            blend=blend,
            multiplier=candidates["multiplier"][row],
            penalty=float(candidates["mmr_penalty"][row]),
            user_overlap=user_overlap,
            starter_overlap=starter_overlap,
            raw={
                name: float(candidates[f"{column}_raw"][row])
                for name, column in zip(names, columns, strict=True)
            },
            sources=int(candidates.sources[row]),
        )
    return reasons, explain


def _reasons(
    context: RankContext,
    parts: dict[str, float],
    blend: float,
    user_overlap: float,
    starter_overlap: float,
) -> tuple[str, ...]:
    user, boost = context.user, context.request.knobs["profile_boost"]
    reasons = [
        name
        for name, value in parts.items()
        if blend > 0 and value >= REASON_SHARE * blend and value > 0
    ]
    if boost > 0 and user_overlap > 0 and user.profile.any():
        reasons.append("profile_match")
    if boost > 0 and starter_overlap > 0 and user.starter_weight > 0:
        reasons.append("starter_profile")
    return tuple(reasons)


def _explain(
    context: RankContext,
    item: int,
    parts: dict[str, float],
    *,
    blend: float,
    multiplier: float,
    penalty: float,
    user_overlap: float,
    starter_overlap: float,
    raw: dict[str, float],
    sources: int,
) -> dict[str, Any]:
    level, catalog = context.request.explain_level, context.snapshot.catalog
    profile = context.signals.blended_profile
    start, end = catalog.features.indptr[item], catalog.features.indptr[item + 1]
    item_features = catalog.features.indices[start:end]
    matched = [catalog.feature_names[f] for f in item_features if profile[f] > 0]
    if level == "tags":
        return {"matched_features": matched}
    rounded = {name: round(float(v), 6) for name, v in parts.items()}
    out: dict[str, Any] = {
        "blend": rounded,
        # The sum of the shown parts, so the explanation adds up exactly as displayed.
        "blended_score": round(sum(rounded.values()), 6),
        "personalisation_multiplier": round(float(multiplier), 6),
        "profile_overlap": round(float(user_overlap), 6),
        "starter_overlap": round(float(starter_overlap), 6),
        "mmr_penalty": round(penalty, 6),
    }
    if level == "full":
        out["raw_signals"] = {name: round(v, 6) for name, v in raw.items()}
        out["matched_features"] = matched
        out["sources"] = [name for flag, name in SOURCE_NAMES.items() if sources & flag]
    return out


def _extras(
    context: RankContext, traces: Sequence[StageTrace], ranked: list[RankedItem]
) -> dict[str, Any]:
    request, catalog, user = context.request, context.snapshot.catalog, context.user
    proposed = _find(traces, ProposeTrace)
    drops = {t.stage: t.dropped for t in traces if isinstance(t, DropTrace)}
    rules = _find(traces, RulesTrace)
    extras: dict[str, Any] = {
        "policy": {
            "candidates": proposed.count,
            "exclusions": drops["exclusions"],
            "constraint_drops": drops["constraints"],
            "rule_actions": rules.actions,
            "rule_exposure": _exposure(rules, ranked),
            "leaks": _leaks(catalog, request, [r.item_id for r in ranked]),
        },
        "candidate_sources": proposed.sources,
        "user": {
            "known": user.user_index >= 0,
            "event_count": user.event_count,
            "new_user": user.is_new,
        },
        "effective_knobs": context.knobs.as_dict(),
    }
    if user.starter_source is not None and user.starter_weight > 0:
        extras["starter_profile"] = {
            "source": user.starter_source,
            "weight": round(user.starter_weight, 6),
            "features": _top_features(catalog, user.starter, 8),
        }
    return extras


def _exposure(rules: RulesTrace, ranked: list[RankedItem]) -> dict[str, int]:
    returned = {r.item_id for r in ranked}
    return {
        action: len(returned & set(rules.touched.get(action, ())))
        for action in ("PIN", "BOOST")
        if rules.touched.get(action)
    }


def _top_features(catalog: Catalog, weights: np.ndarray, count: int) -> dict[str, float]:
    order = [i for i in np.lexsort((np.arange(len(weights)), -weights))[:count] if weights[i] > 0]
    return {catalog.feature_names[i]: round(float(weights[i]), 6) for i in order}


def _leaks(catalog: Catalog, request: RankRequest, item_ids: list[str]) -> int:
    """Items in the answer that break an exclusion or constraint: must always be 0."""
    if request.mode == "rerank" or not item_ids:
        return 0
    items = catalog.indices_of(item_ids)
    bad = np.zeros(len(items), dtype=bool)
    for mask in constraint_masks(catalog, items, request.constraints).values():
        bad |= mask
    bad |= ~catalog.available[items]
    bad |= np.isin(items, catalog.indices_of(request.exclude_item_ids))
    return int(np.count_nonzero(bad))


__all__ = ["REASON_SHARE", "assemble"]

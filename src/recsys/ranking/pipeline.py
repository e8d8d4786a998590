"""The pipeline: candidates -> exclusions -> constraints -> blend -> personalisation (with cold
start) -> rules -> MMR/caps -> response. Every stage leaves a trace entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.policy.rules import RuleEffects, rule_effects
from recsys.ranking.candidates import (
    SOURCE_CALLER,
    SOURCE_COVISITATION,
    SOURCE_ITEM_MODEL,
    SOURCE_NAMES,
    SOURCE_POPULARITY,
    SOURCE_PROFILE,
    SOURCE_STARTER,
    SOURCE_VECTOR,
    top_indices,
    union,
)
from recsys.ranking.context import UserContext, build_user_context
from recsys.ranking.diversify import mmr_order
from recsys.ranking.filters import constraint_masks, exclusion_masks
from recsys.ranking.request import RankedItem, RankRequest, RankResult
from recsys.signals.snapshot import Snapshot

# Bumped whenever the ranking model changes shape; reported by /version and every response.
MODEL_VERSION = "blend-v1"
# How many neighbours each personalised source may propose (popularity has its own fan-out).
NEIGHBOUR_FANOUT = 200
# Candidates kept (best first, before diversification) for the decision audit.
AUDIT_CANDIDATES = 50
# A signal is named as a reason when it contributes at least this share of the blended score.
REASON_SHARE = 0.15


@dataclass(frozen=True)
class EffectiveKnobs:
    """The knob values this request actually ranks with, after new-user and surface rules."""

    alpha: float
    beta: float
    gamma: float
    delta: float
    fanout: int
    mmr_lambda: float
    mmr_source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "blend_alpha": self.alpha,
            "blend_beta": self.beta,
            "blend_gamma": self.gamma,
            "blend_delta": self.delta,
            "popularity_fanout": self.fanout,
            "mmr_lambda": self.mmr_lambda,
            "mmr_lambda_from": self.mmr_source,
        }


def effective_knobs(request: RankRequest, context: UserContext) -> EffectiveKnobs:
    knobs = request.knobs
    new = context.is_new
    prefix = "new_user_" if new else ""
    if "mmr_lambda" in request.explicit_knobs:
        mmr, source = knobs["mmr_lambda"], "override"
    elif request.surface and request.surface in knobs["mmr_presets"]:
        mmr, source = knobs["mmr_presets"][request.surface], f"mmr_presets.{request.surface}"
    elif new:
        mmr, source = knobs["new_user_mmr_lambda"], "new_user_mmr_lambda"
    else:
        mmr, source = knobs["mmr_lambda"], "mmr_lambda"
    return EffectiveKnobs(
        alpha=knobs[f"{prefix}blend_alpha"],
        beta=knobs[f"{prefix}blend_beta"],
        gamma=knobs[f"{prefix}blend_gamma"],
        delta=knobs[f"{prefix}blend_delta"],
        fanout=knobs["new_user_pop_fanout"] if new else knobs["popularity_fanout"],
        mmr_lambda=mmr,
        mmr_source=source,
    )


def _normalised(values: np.ndarray) -> np.ndarray:
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else np.zeros_like(values, dtype=np.float64)


class Pipeline:
    """Stateless; `run` is a pure function of (snapshot, request)."""

    def run(self, snapshot: Snapshot, request: RankRequest) -> RankResult:
        if snapshot.is_empty:
            return RankResult(
                items=(),
                trace={"stages": [], "extras": {"policy": {"candidates": 0}}},
                warnings=("namespace has no items yet: push a catalogue with /v1/items:upsert",),
            )
        catalog = snapshot.catalog
        knobs = request.knobs
        popularity = snapshot.popularity(knobs["popularity_halflife_days"])
        context = build_user_context(
            snapshot,
            user_id=request.user_id,
            segment=request.segment,
            now_us=request.now_us,
            knobs=knobs,
            popularity=popularity.scores,
        )
        eff = effective_knobs(request, context)
        stages: list[dict[str, Any]] = []

        # User-side signal vectors over the whole catalogue (sparse work, no catalogue loops).
        covis_vector = np.zeros(catalog.size)
        if len(context.anchors):
            covis = snapshot.covisitation(knobs["covis_window_days"])
            covis_vector = np.asarray(context.anchor_weights @ covis[context.anchors]).ravel()
        user_vector = None
        if snapshot.item_vectors is not None and len(context.anchors):
            u = context.anchor_weights @ snapshot.item_vectors[context.anchors]
            norm = float(np.linalg.norm(u))
            user_vector = u / norm if norm > 0 else None
        # The item model only runs when it carries weight: it is the costliest signal to score.
        model_vector = np.zeros(catalog.size)
        if eff.delta > 0 and len(context.history):
            model = snapshot.item_model(knobs["item_model_l2"], knobs["item_model_max_items"])
            model_vector = model.scores(context.history, catalog.size)
        profile = (1.0 - context.starter_weight) * context.profile
        starter = context.starter_weight * context.starter
        blended_profile = profile + starter

        # 1. Candidates.
        if request.mode == "rerank":
            caller = catalog.indices_of(request.candidate_item_ids)
            candidates = union([(SOURCE_CALLER, caller)])
        else:
            proposals: list[tuple[int, np.ndarray]] = [
                (SOURCE_POPULARITY, popularity.order[: eff.fanout])
            ]
            if len(context.anchors):
                proposals.append((SOURCE_COVISITATION, top_indices(covis_vector, NEIGHBOUR_FANOUT)))
            if model_vector.any():
                proposals.append((SOURCE_ITEM_MODEL, top_indices(model_vector, NEIGHBOUR_FANOUT)))
            if user_vector is not None:
                assert snapshot.item_vectors is not None
                similarity = snapshot.item_vectors @ user_vector
                proposals.append((SOURCE_VECTOR, top_indices(similarity, NEIGHBOUR_FANOUT)))
            if profile.any():
                overlap = catalog.features @ profile
                proposals.append((SOURCE_PROFILE, top_indices(overlap, NEIGHBOUR_FANOUT)))
            if starter.any():
                overlap = catalog.features @ context.starter
                # Starter items: the most popular items of the starter's categories/tags.
                proposals.append(
                    (
                        SOURCE_STARTER,
                        top_indices(overlap * (popularity.scores + 1e-12), NEIGHBOUR_FANOUT),
                    )
                )
            candidates = union(proposals)
        stages.append(
            {"stage": "candidates", "count": len(candidates), "sources": candidates.source_counts()}
        )

        # 2. Exclusions and 3. constraints (rerank only reorders: it never drops the caller's ids).
        exclusion_drops: dict[str, int] = {}
        constraint_drops: dict[str, int] = {}
        if request.mode == "recommend":
            drop = np.zeros(len(candidates), dtype=bool)
            masks = exclusion_masks(
                catalog,
                candidates.items,
                explicit=catalog.indices_of(request.exclude_item_ids),
                by_events=context.excluded_items,
            )
            for reason, mask in masks.items():
                exclusion_drops[reason] = int(np.count_nonzero(mask & ~drop))
                drop |= mask
            for reason, mask in constraint_masks(
                catalog, candidates.items, request.constraints
            ).items():
                constraint_drops[reason] = int(np.count_nonzero(mask & ~drop))
                drop |= mask
            candidates = candidates.keep(~drop)
        stages.append({"stage": "exclusions", "dropped": exclusion_drops})
        stages.append({"stage": "constraints", "dropped": constraint_drops})

        # 4. Blend: each signal normalised to [0, 1] over this request's candidates.
        items = candidates.items
        if request.mode == "rerank" and any(s is not None for s in request.candidate_scores):
            given = {
                i: float(s)
                for i, s in zip(request.candidate_item_ids, request.candidate_scores, strict=False)
                if s is not None
            }
            base_raw = np.asarray([given.get(catalog.item_ids[i], 0.0) for i in items])
            base_raw = base_raw - min(0.0, float(base_raw.min())) if len(base_raw) else base_raw
            base_name = "caller_score"
        else:
            base_raw = popularity.scores[items]
            base_name = "popularity"
        covis_raw = covis_vector[items]
        if user_vector is not None:
            assert snapshot.item_vectors is not None
            vector_raw = np.clip(snapshot.item_vectors[items] @ user_vector, 0.0, None)
        else:
            vector_raw = np.zeros(len(items))
        model_raw = np.clip(model_vector[items], 0.0, None)
        pop_n, covis_n, vec_n, model_n = (
            _normalised(base_raw),
            _normalised(covis_raw),
            _normalised(vector_raw),
            _normalised(model_raw),
        )
        blend = eff.alpha * pop_n + eff.beta * covis_n + eff.gamma * vec_n + eff.delta * model_n
        stages.append({"stage": "blend", "base_signal": base_name})

        # 5./6. Personalisation, with the starter profile blended in for new or sparse users.
        boost = knobs["profile_boost"]
        attenuation = (
            knobs["profile_cold_start_multiplier"]
            if context.event_count < knobs["profile_min_events_for_boost"]
            else 1.0
        )
        rows = catalog.features[items]
        user_overlap = rows @ context.profile if context.profile.any() else np.zeros(len(items))
        starter_overlap = rows @ context.starter if context.starter.any() else np.zeros(len(items))
        multiplier = 1.0 + boost * (
            attenuation * (1.0 - context.starter_weight) * user_overlap
            + context.starter_weight * starter_overlap
        )
        score = blend * multiplier
        stages.append(
            {
                "stage": "personalisation",
                "profile_boost": boost,
                "attenuation": attenuation,
                "starter_weight": round(context.starter_weight, 6),
            }
        )

        # 7. Rules: BLOCK removes, PIN reserves slots, BOOST adds to the score before MMR.
        effects = self._rules(snapshot, request, candidates.items, context.excluded_items)
        pinned: tuple[tuple[int, int], ...] = ()
        if effects is not None:
            score = score + effects.boost
            pinned = effects.pins
            keep = ~effects.blocked & ~np.isin(items, [item for item, _ in pinned])
            candidates, score, blend, multiplier = (
                candidates.keep(keep),
                score[keep],
                blend[keep],
                multiplier[keep],
            )
            items, rows = candidates.items, rows[keep]
            base_raw, covis_raw, vector_raw = base_raw[keep], covis_raw[keep], vector_raw[keep]
            model_raw, model_n = model_raw[keep], model_n[keep]
            pop_n, covis_n, vec_n = pop_n[keep], covis_n[keep], vec_n[keep]
            user_overlap, starter_overlap = user_overlap[keep], starter_overlap[keep]
        stages.append(
            {
                "stage": "rules",
                "actions": effects.actions if effects else {},
                "matched_rule_ids": list(effects.matched_rule_ids) if effects else [],
                "blocked_by_rule": dict(effects.blocked_by_rule) if effects else {},
                "touched": {a: list(ids) for a, ids in effects.touched.items()} if effects else {},
            }
        )

        # 8. Diversity: MMR over relevance in [0, 1], with caps; its order is the final order.
        relevance = _normalised(score)
        vectors = None
        if snapshot.item_vectors is not None:
            vectors = snapshot.item_vectors[items]
            if not np.any(vectors):
                vectors = None
        k = len(items) if request.mode == "rerank" else max(0, request.k - len(pinned))
        diversified = mmr_order(
            relevance=relevance,
            k=k,
            mmr_lambda=eff.mmr_lambda,
            vectors=vectors,
            features=rows if vectors is None else None,
            brand=catalog.brand[items],
            category=catalog.category[items],
            brand_cap=knobs["brand_cap"],
            category_cap=knobs["category_cap"],
        )
        order = diversified.order
        penalties = diversified.penalty
        if request.mode == "rerank":
            # Caps never remove a caller's item in rerank: capped items follow, in MMR order.
            order = np.concatenate([order, diversified.deferred])
            penalties = np.concatenate([penalties, np.zeros(len(diversified.deferred))])
        stages.append(
            {
                "stage": "diversity",
                "mmr_lambda": eff.mmr_lambda,
                "similarity": "item_vectors" if vectors is not None else "features",
                "cap_skips": diversified.cap_skips,
            }
        )

        # 9. Response: the MMR order, with pinned items placed at their slots.
        slots: list[tuple[int, float] | tuple[str, int]] = [
            (int(p), float(pen)) for p, pen in zip(order, penalties, strict=True)
        ]
        for item, slot in pinned:
            slots.insert(min(slot, len(slots)), ("pin", item))
        ranked: list[RankedItem] = []
        for rank, entry in enumerate(slots, start=1):
            if entry[0] == "pin":
                item_index = int(entry[1])
                ranked.append(
                    RankedItem(
                        item_id=str(catalog.item_ids[item_index]),
                        score=0.0,
                        rank=rank,
                        reasons=("pinned",) if request.include_reasons else None,
                        explain={"pinned": True} if request.explain_level != "none" else None,
                    )
                )
                continue
            i, penalty = int(entry[0]), float(entry[1])
            parts = {
                base_name: eff.alpha * pop_n[i],
                "co_visitation": eff.beta * covis_n[i],
                "item_similarity": eff.gamma * vec_n[i],
                "item_model": eff.delta * model_n[i],
            }
            reasons = None
            if request.include_reasons:
                reasons = _reasons(
                    parts, blend[i], user_overlap[i], starter_overlap[i], boost, context
                )
            explain = None
            if request.explain_level != "none":
                explain = _explain(
                    request.explain_level,
                    catalog,
                    int(items[i]),
                    parts,
                    blend[i],
                    multiplier[i],
                    penalty,
                    user_overlap[i],
                    starter_overlap[i],
                    blended_profile,
                    raw={
                        base_name: float(base_raw[i]),
                        "co_visitation": float(covis_raw[i]),
                        "item_similarity": float(vector_raw[i]),
                        "item_model": float(model_raw[i]),
                    },
                    sources=int(candidates.sources[i]),
                )
            ranked.append(
                RankedItem(
                    item_id=str(catalog.item_ids[items[i]]),
                    score=round(float(score[i]), 6),
                    rank=rank,
                    reasons=reasons,
                    explain=explain,
                )
            )
        if effects is not None and request.include_reasons:
            boosted = set(effects.touched.get("BOOST", ()))
            ranked = [
                RankedItem(r.item_id, r.score, r.rank, (*(r.reasons or ()), "boosted"), r.explain)
                if r.item_id in boosted
                else r
                for r in ranked
            ]
        if request.mode == "rerank":
            known = set(catalog.index)
            unknown = [i for i in dict.fromkeys(request.candidate_item_ids) if i not in known]
            for item_id in unknown:
                ranked.append(
                    RankedItem(
                        item_id=item_id,
                        score=0.0,
                        rank=len(ranked) + 1,
                        reasons=("unknown_item",) if request.include_reasons else None,
                    )
                )

        extras: dict[str, Any] = {
            "policy": {
                "candidates": stages[0]["count"],
                "exclusions": exclusion_drops,
                "constraint_drops": constraint_drops,
                "rule_actions": effects.actions if effects else {},
                "rule_exposure": _exposure(effects, ranked),
                "leaks": _leaks(catalog, request, [r.item_id for r in ranked]),
            },
            "candidate_sources": stages[0]["sources"],
            "user": {
                "known": context.user_index >= 0,
                "event_count": context.event_count,
                "new_user": context.is_new,
            },
            "effective_knobs": eff.as_dict(),
        }
        if context.starter_source is not None and context.starter_weight > 0:
            extras["starter_profile"] = {
                "source": context.starter_source,
                "weight": round(context.starter_weight, 6),
                "features": _top_features(catalog, context.starter, 8),
            }
        warnings: tuple[str, ...] = ()
        if len(ranked) < request.k and request.mode == "recommend":
            warnings = (f"only {len(ranked)} items satisfied the filters, caps and constraints",)
        best = np.lexsort((items, -score))[:AUDIT_CANDIDATES]
        return RankResult(
            items=tuple(ranked),
            trace={"stages": stages, "extras": extras},
            warnings=warnings,
            candidates=tuple(
                (str(catalog.item_ids[items[i]]), round(float(score[i]), 6)) for i in best
            ),
        )

    @staticmethod
    def _rules(
        snapshot: Snapshot, request: RankRequest, items: np.ndarray, excluded: np.ndarray
    ) -> RuleEffects | None:
        if not request.rules or not request.knobs["rules_enable"]:
            return None
        catalog = snapshot.catalog
        pinnable = items
        if request.mode == "recommend":
            # An ITEM pin may bring in an item that no source proposed, but only one that the
            # request's own filters and the user's exclusions would have let through.
            named = catalog.indices_of(
                i
                for r in request.rules
                if r.action == "PIN"
                for i in (*r.item_ids, r.target_key or "")
            )
            extra = np.setdiff1d(named, items)
            if len(extra):
                drop = (
                    ~catalog.available[extra]
                    | np.isin(extra, catalog.indices_of(request.exclude_item_ids))
                    | np.isin(extra, excluded)  # e.g. what the user just bought
                )
                for mask in constraint_masks(catalog, extra, request.constraints).values():
                    drop |= mask
                pinnable = np.union1d(items, extra[~drop])
        return rule_effects(
            request.rules,
            catalog,
            items,
            pinnable=pinnable,
            max_pins=request.knobs["rules_max_pin_slots"],
        )


def _exposure(effects: RuleEffects | None, ranked: list[RankedItem]) -> dict[str, int]:
    if effects is None:
        return {}
    returned = {r.item_id for r in ranked}
    return {
        action: len(returned & set(effects.touched.get(action, ())))
        for action in ("PIN", "BOOST")
        if effects.touched.get(action)
    }


def _reasons(
    parts: dict[str, float],
    blend: float,
    user_overlap: float,
    starter_overlap: float,
    boost: float,
    context: UserContext,
) -> tuple[str, ...]:
    reasons = [
        name
        for name, value in parts.items()
        if blend > 0 and value >= REASON_SHARE * blend and value > 0
    ]
    if boost > 0 and user_overlap > 0 and context.profile.any():
        reasons.append("profile_match")
    if boost > 0 and starter_overlap > 0 and context.starter_weight > 0:
        reasons.append("starter_profile")
    return tuple(reasons)


def _explain(
    level: str,
    catalog: Any,
    item: int,
    parts: dict[str, float],
    blend: float,
    multiplier: float,
    penalty: float,
    user_overlap: float,
    starter_overlap: float,
    profile: np.ndarray,
    *,
    raw: dict[str, float],
    sources: int,
) -> dict[str, Any]:
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


def _top_features(catalog: Any, weights: np.ndarray, count: int) -> dict[str, float]:
    order = [i for i in np.lexsort((np.arange(len(weights)), -weights))[:count] if weights[i] > 0]
    return {catalog.feature_names[i]: round(float(weights[i]), 6) for i in order}


def _leaks(catalog: Any, request: RankRequest, item_ids: list[str]) -> int:
    """Items in the answer that break an exclusion or constraint: must always be 0."""
    if request.mode == "rerank" or not item_ids:
        return 0
    items = catalog.indices_of(item_ids)
    drops = constraint_masks(catalog, items, request.constraints)
    bad = np.zeros(len(items), dtype=bool)
    for mask in drops.values():
        bad |= mask
    bad |= ~catalog.available[items]
    bad |= np.isin(items, catalog.indices_of(request.exclude_item_ids))
    return int(np.count_nonzero(bad))


def build_pipeline(config: dict[str, Any] | None = None) -> Pipeline:
    """The pipeline is configured per request through `RankRequest.knobs`; `config` is kept for
    stage options that are not knobs (none yet)."""
    return Pipeline()


__all__ = ["EffectiveKnobs", "Pipeline", "build_pipeline", "effective_knobs"]

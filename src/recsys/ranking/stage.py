"""What every stage shares: the request's context (built once, read-only), the stage and trace
protocols, and the observer hook.

A stage is a small pure unit `(context, candidates) -> (candidates, trace)`. The context holds
what is known about the request before any candidate exists — the user's history, profile and
signal vectors, the effective knobs — so stages never recompute it and never read a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from recsys.ranking.candidates import CandidateSet
from recsys.ranking.context import UserContext, build_user_context
from recsys.ranking.item_scores import ItemScores
from recsys.ranking.request import RankRequest
from recsys.signals.snapshot import Popularity, Snapshot
from recsys.signals.user_factors import UserFactors


@dataclass(frozen=True)
class EffectiveKnobs:
    """The knob values this request actually ranks with, after new-user and surface rules."""

    alpha: float
    beta: float
    gamma: float
    delta: float
    epsilon: float
    fanout: int
    mmr_lambda: float
    mmr_source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "blend_alpha": self.alpha,
            "blend_beta": self.beta,
            "blend_gamma": self.gamma,
            "blend_delta": self.delta,
            "blend_epsilon": self.epsilon,
            "popularity_fanout": self.fanout,
            "mmr_lambda": self.mmr_lambda,
            "mmr_lambda_from": self.mmr_source,
        }


def effective_knobs(request: RankRequest, context: UserContext) -> EffectiveKnobs:
    """New users rank with the NEW_USER_* knobs; MMR λ comes from the request's own override,
    else the surface's preset, else the new-user or the namespace value."""
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
        epsilon=knobs[f"{prefix}blend_epsilon"],
        fanout=knobs["new_user_pop_fanout"] if new else knobs["popularity_fanout"],
        mmr_lambda=mmr,
        mmr_source=source,
    )


@dataclass(frozen=True, eq=False)
class UserSignals:
    """The user's side of each signal: sparse scores over the few items each one reaches, and
    the vectors the others are scored with."""

    covisitation: ItemScores  # anchor-weighted co-visitation row
    user_vector: np.ndarray | None  # unit-norm mean of the anchors' item vectors
    item_model: ItemScores  # the item model's scores for the user's history
    taste: np.ndarray | None  # the user's factor vector, folded in from their history
    factors: UserFactors | None  # the item factors `taste` is scored against (with it)
    profile: np.ndarray  # tag profile, weighted by (1 - starter weight)
    starter: np.ndarray  # starter profile, weighted by the starter weight

    @property
    def blended_profile(self) -> np.ndarray:
        return self.profile + self.starter


@dataclass(frozen=True, eq=False)
class RankContext:
    snapshot: Snapshot
    request: RankRequest
    popularity: Popularity
    user: UserContext
    knobs: EffectiveKnobs
    signals: UserSignals


def build_context(snapshot: Snapshot, request: RankRequest) -> RankContext:
    """Everything the stages read about this request, computed once (sparse work, no loops
    over the catalogue)."""
    knobs = request.knobs
    popularity = snapshot.popularity(knobs["popularity_halflife_days"])
    user = build_user_context(
        snapshot,
        user_id=request.user_id,
        segment=request.segment,
        now_us=request.now_us,
        knobs=knobs,
    )
    effective = effective_knobs(request, user)
    covisitation = ItemScores.empty()
    if len(user.anchors):
        covis = snapshot.covisitation(knobs["covis_window_days"])
        covisitation = ItemScores.weighted_rows(covis, user.anchors, user.anchor_weights)
    user_vector = None
    if snapshot.item_vectors is not None and len(user.anchors):
        u = user.anchor_weights @ snapshot.item_vectors[user.anchors]
        norm = float(np.linalg.norm(u))
        user_vector = u / norm if norm > 0 else None
    # The item model only runs when it carries weight: it is the costliest signal to score.
    model = ItemScores.empty()
    if effective.delta > 0 and len(user.history):
        fitted = snapshot.item_model(knobs["item_model_l2"], knobs["item_model_max_items"])
        model = ItemScores(*fitted.head_scores(user.history))
    # Likewise the user factors: the fold-in solves a small system per request.
    taste, factors = None, None
    if effective.epsilon > 0 and len(user.history):
        factors = snapshot.user_factors(
            knobs["user_factors_dim"], knobs["user_factors_l2"], knobs["user_factors_alpha"]
        )
        taste = factors.fold_in(user.history)
        factors = factors if taste is not None else None
    signals = UserSignals(
        covisitation=covisitation,
        user_vector=user_vector,
        item_model=model,
        taste=taste,
        factors=factors,
        profile=(1.0 - user.starter_weight) * user.profile,
        starter=user.starter_weight * user.starter,
    )
    return RankContext(snapshot, request, popularity, user, effective, signals)


class StageTrace(Protocol):
    """What one stage did, typed; `as_json` renders it as its entry of the trace's "stages"."""

    def as_json(self) -> dict[str, Any]: ...


class Stage(Protocol):
    name: str

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, StageTrace]: ...


T = TypeVar("T")


class StageObserver(Protocol):
    """Wraps each step of a run ("context", every stage by name, "assemble"): receives the
    step's name, the step and its arguments, and returns `step(*args)`. Used to time or record
    stages; it must not change the output. (Step and arguments rather than a closure: no
    allocation per step when nobody observes.)"""

    def __call__(self, name: str, step: Callable[..., T], *args: Any) -> T: ...


def run_directly(name: str, step: Callable[..., T], *args: Any) -> T:
    """The observer used when nobody observes."""
    return step(*args)


__all__ = [
    "EffectiveKnobs",
    "RankContext",
    "Stage",
    "StageObserver",
    "StageTrace",
    "UserSignals",
    "build_context",
    "effective_knobs",
    "run_directly",
]

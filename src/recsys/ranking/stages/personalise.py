"""Personalise: multiply the blend by 1 + PROFILE_BOOST x the candidate's overlap with the
user's tag profile (attenuated for cold users) and with the starter profile (for new or sparse
users, by the starter weight)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.ranking.candidates import CandidateSet
from recsys.ranking.sparse_rows import rows_dot
from recsys.ranking.stage import RankContext


@dataclass(frozen=True)
class PersonaliseTrace:
    profile_boost: float
    attenuation: float
    starter_weight: float

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": "personalisation",
            "profile_boost": self.profile_boost,
            "attenuation": self.attenuation,
            "starter_weight": round(self.starter_weight, 6),
        }


class Personalise:
    name = "personalise"

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, PersonaliseTrace]:
        knobs, user = context.request.knobs, context.user
        boost = knobs["profile_boost"]
        attenuation = (
            knobs["profile_cold_start_multiplier"]
            if user.event_count < knobs["profile_min_events_for_boost"]
            else 1.0
        )
        n, features = len(candidates), context.snapshot.catalog.features
        user_overlap = (
            rows_dot(features, candidates.items, user.profile)
            if user.profile.any()
            else np.zeros(n)
        )
        starter_overlap = (
            rows_dot(features, candidates.items, user.starter)
            if user.starter.any()
            else np.zeros(n)
        )
        multiplier = 1.0 + boost * (
            attenuation * (1.0 - user.starter_weight) * user_overlap
            + user.starter_weight * starter_overlap
        )
        personalised = candidates.with_columns(
            user_overlap=user_overlap,
            starter_overlap=starter_overlap,
            multiplier=multiplier,
            score=candidates["blend"] * multiplier,
        )
        return personalised, PersonaliseTrace(boost, attenuation, user.starter_weight)


__all__ = ["Personalise", "PersonaliseTrace"]

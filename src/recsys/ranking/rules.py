"""Merchandising rules stage (seam). Issue "control plane" fills it with PIN / BLOCK / BOOST;
until then it passes candidates through unchanged and records that no rule ran."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.ranking.candidates import CandidateSet


@dataclass(frozen=True)
class RuleOutcome:
    candidates: CandidateSet
    pins: tuple[tuple[int, int], ...] = ()  # (catalogue index, slot)
    actions: dict[str, int] = field(default_factory=dict)


def apply_rules(candidates: CandidateSet, score: np.ndarray) -> tuple[RuleOutcome, np.ndarray]:
    return RuleOutcome(candidates=candidates), score


__all__ = ["RuleOutcome", "apply_rules"]

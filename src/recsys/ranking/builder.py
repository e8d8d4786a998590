"""The one place a ranking request is built: the user's traits from the snapshot, the policy
resolved for them (segment, knobs, rules: `policy.resolve`), and the RankRequest the pipeline
runs.

The HTTP routes (recommendations, rerank, bandit recommendations, the rules dry-run), the
offline evaluator, the quality benchmark and bench/serving.py all come through here, so a
request ranks the same way wherever it is asked. It lives in ranking/ rather than beside
`resolve` in policy/ because ranking already depends on policy (rules): here, the packages
keep one direction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsys.config.knobs import KnobValues
from recsys.policy.namespace import NamespacePolicy
from recsys.policy.resolve import Resolved, resolve
from recsys.ranking.request import Constraints, ExplainLevel, Mode, RankRequest
from recsys.signals.snapshot import Snapshot


@dataclass(frozen=True)
class Built:
    resolved: Resolved
    request: RankRequest


def user_traits(snapshot: Snapshot, user_id: str | None) -> dict[str, Any]:
    """A known user's traits (empty for an unknown or anonymous user)."""
    if not user_id:
        return {}
    return dict(snapshot.users.traits.get(user_id) or {})


def build_request(
    snapshot: Snapshot,
    policy: NamespacePolicy,
    *,
    base_knobs: KnobValues,
    now_us: int,
    k: int,
    user_id: str | None = None,
    surface: str | None = None,
    context: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    mode: Mode = "recommend",
    constraints: Constraints | None = None,
    exclude_item_ids: Sequence[str] = (),
    candidate_item_ids: Sequence[str] = (),
    candidate_scores: Sequence[float | None] = (),
    include_reasons: bool = False,
    explain_level: ExplainLevel = "none",
) -> Built:
    """`overrides` must already be validated (`parse_overrides`); `now_us` is the instant the
    request ranks at (an `as_of` time when the caller asked for one)."""
    resolved = resolve(
        policy,
        base_knobs=base_knobs,
        traits=user_traits(snapshot, user_id),
        context=context,
        request={"surface": surface, "k": k, "user_id": user_id},
        surface=surface,
        overrides=overrides or {},
        now_us=now_us,
    )
    request = RankRequest(
        now_us=now_us,
        k=k,
        user_id=user_id,
        knobs=resolved.knobs,
        explicit_knobs=resolved.explicit_knobs,
        surface=surface,
        segment=resolved.starter_segment,
        constraints=constraints or Constraints(),
        exclude_item_ids=tuple(exclude_item_ids),
        include_reasons=include_reasons,
        explain_level=explain_level,
        mode=mode,
        candidate_item_ids=tuple(candidate_item_ids),
        candidate_scores=tuple(candidate_scores),
        rules=resolved.rules,
    )
    return Built(resolved, request)


__all__ = ["Built", "build_request", "user_traits"]

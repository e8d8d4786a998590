"""Resolve what one request ranks with: segment, knobs (environment -> namespace config ->
segment profile -> request overrides) and the rules in force. Pure; used by the HTTP service
and by the offline evaluator alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recsys.clock import from_micros
from recsys.config.knobs import KnobValues
from recsys.policy.namespace import NamespacePolicy
from recsys.policy.rules import Rule, applicable
from recsys.policy.segments import build_env, choose_segment


@dataclass(frozen=True)
class Resolved:
    knobs: KnobValues
    explicit_knobs: frozenset[str]  # set by the request itself
    segment_id: str | None  # the matching control-plane segment
    profile_id: str | None  # its profile, when it names one that exists
    starter_segment: str | None  # key into PROFILE_STARTER_PRESETS
    rules: tuple[Rule, ...]


def resolve(
    policy: NamespacePolicy,
    *,
    base_knobs: KnobValues,
    traits: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    request: Mapping[str, Any],
    surface: str | None,
    overrides: Mapping[str, Any],
    now_us: int,
) -> Resolved:
    """`overrides` must already be validated (they are the caller's, checked at the edge)."""
    segment = None
    if policy.segments:
        # `surface` may come top level or as `context.surface`; `ctx.surface` sees either.
        ctx = dict(context or {})
        if surface is not None:
            ctx["surface"] = surface
        env = build_env(traits=traits, context=ctx, request=request)
        segment = choose_segment(policy.segments, env, now=from_micros(now_us))
    profile_id = None
    knobs = policy.knobs(base_knobs)
    if segment is not None and segment.profile_id and segment.profile_id in policy.profiles:
        profile_id = segment.profile_id
        knobs = knobs.with_overrides(policy.profiles[segment.profile_id])
    knobs = knobs.with_overrides(overrides)
    trait_segment = (traits or {}).get("segment")
    starter_segment = segment.segment_id if segment is not None else None
    if starter_segment is None and trait_segment is not None:
        starter_segment = str(trait_segment)
    # A rule's segment_id names the segment the response reports: the matching control-plane
    # segment, else the user's `segment` trait.
    rules = applicable(policy.rules, surface=surface, segment_id=starter_segment, now_us=now_us)
    return Resolved(
        knobs=knobs,
        explicit_knobs=frozenset(overrides),
        segment_id=segment.segment_id if segment is not None else None,
        profile_id=profile_id,
        starter_segment=starter_segment,
        rules=rules,
    )


__all__ = ["Resolved", "resolve"]

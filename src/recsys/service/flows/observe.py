"""After a ranking: policy metrics and the (sampled) decision audit record."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from recsys.clock import to_micros
from recsys.ranking import RankResult
from recsys.service.audit import user_hash
from recsys.service.flows.ranking import Prepared
from recsys.service.state import ServiceState


def observe(
    state: ServiceState,
    *,
    org_id: str,
    namespace: str,
    prepared: Prepared,
    result: RankResult,
    decision_id: str,
    body: BaseModel,
    started: float,
    ranked_at: float,
    annotations: Mapping[str, Any] | None = None,
) -> None:
    """Count the ranking in the metrics and keep its (sampled) audit record; `annotations`
    are added to the record (e.g. the canary arm that served it)."""
    request = prepared.request
    metrics = state.metrics
    bounded = metrics.bounded
    surface = bounded("surface", request.surface or "none")
    ns_label = bounded("namespace", namespace)
    stages = {s["stage"]: s for s in result.trace.get("stages", [])}
    policy = result.trace.get("extras", {}).get("policy", {})
    rules_stage = stages.get("rules", {})
    for action, count in rules_stage.get("actions", {}).items():
        metrics.rule_actions.labels(ns_label, surface, action).inc(count)
    for rule_id, count in rules_stage.get("blocked_by_rule", {}).items():
        metrics.rule_blocked_items.labels(ns_label, surface, bounded("rule_id", rule_id)).inc(count)
    for action, count in policy.get("rule_exposure", {}).items():
        metrics.rule_exposure.labels(ns_label, surface, action).inc(count)
    if policy.get("leaks"):
        metrics.constraint_leaks.labels(ns_label, surface, "constraint").inc(policy["leaks"])
    snapshot = prepared.served.snapshot
    returned = [i.item_id for i in result.items]
    metrics.response_items.labels(ns_label, surface).inc(len(returned))
    metrics.coverage.labels(ns_label, surface, "all").inc(len(returned))
    if returned and not snapshot.is_empty:
        tail = snapshot.long_tail(
            request.knobs["popularity_halflife_days"], state.settings.long_tail_head_share
        )
        indices = snapshot.catalog.indices_of(returned)
        metrics.coverage.labels(ns_label, surface, "long_tail").inc(int(tail[indices].sum()))

    if not state.audit.sampled(decision_id):
        return
    resolved = prepared.resolved
    state.audit.record(
        {
            "decision_id": decision_id,
            "org_id": org_id,
            "namespace": namespace,
            "created_at_us": to_micros(state.clock()),
            "user_hash": user_hash(org_id, request.user_id),
            "surface": request.surface,
            "segment_id": resolved.segment_id or resolved.starter_segment,
            "config_version": prepared.served.policy.config_version,
            "rule_ids": list(rules_stage.get("matched_rule_ids", [])),
            "record": {
                "request": body.model_dump(mode="json", exclude={"user_id"}),
                "effective_config": request.knobs.as_dict(),
                "profile_id": resolved.profile_id,
                "candidates": [{"item_id": i, "score": s} for i, s in result.candidates],
                "items": [
                    {
                        "item_id": i.item_id,
                        "score": i.score,
                        "rank": i.rank,
                        "reasons": list(i.reasons) if i.reasons else None,
                    }
                    for i in result.items
                ],
                "rules_matched": list(rules_stage.get("matched_rule_ids", [])),
                "trace": result.trace.get("extras", {}),
                "timings_ms": {
                    "prepare": round((ranked_at - started) * 1000, 3),
                    "total": round((time.perf_counter() - started) * 1000, 3),
                },
                **(annotations or {}),
            },
        }
    )


__all__ = ["observe"]

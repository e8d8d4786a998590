"""Control-plane logic the routes share: validating a namespace config, turning a rule body into
its stored row, an override's status, and the rule dry run."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from recsys.clock import to_micros
from recsys.config.knobs import KnobError, KnobScope, parse_overrides
from recsys.policy.namespace import policy_from_rows
from recsys.policy.rules import Rule, applicable
from recsys.policy.segments import build_env
from recsys.policy.segments import dry_run as evaluate_segments
from recsys.service.errors import ApiError
from recsys.service.flows.ranking import prepare
from recsys.service.schemas.control import (
    RuleDryRun,
    RuleDryRunResponse,
    RuleIn,
    SegmentDryRun,
    SegmentDryRunResponse,
)
from recsys.service.schemas.ranking import RecommendationsRequest
from recsys.service.state import ServiceState
from recsys.store import Store, control
from recsys.store.repositories import list_users


def validated_config(
    raw: dict[str, Any], where: str = "config", *, scope: KnobScope = "namespace"
) -> dict[str, Any]:
    """422 listing every unknown key and bad value (and, with `scope="request"`, every
    namespace-level knob)."""
    try:
        parsed = parse_overrides(raw, scope=scope)
    except KnobError as exc:
        errors = [
            {"loc": f"{where}.{key}", "field": key, "message": message}
            for key, message in exc.errors.items()
        ]
        raise ApiError(
            422,
            "invalid_config",
            f"{len(errors)} invalid field(s): " + ", ".join(e["field"] for e in errors),
            {"errors": errors},
        ) from exc
    return {key: list(v) if isinstance(v, tuple) else v for key, v in parsed.items()}


def rollback_config(
    conn: Connection, *, org_id: str, namespace: str, version: int, author: str | None, now_us: int
) -> dict[str, Any]:
    """Restore an earlier version's config as a new version (history is never rewritten); the
    new current row, or 404 for a version the namespace never had."""
    old = control.config_version(conn, org_id=org_id, namespace=namespace, version=version)
    if old is None:
        raise ApiError(404, "config_version_not_found", f"no config version {version}")
    control.insert_config(
        conn,
        org_id=org_id,
        namespace=namespace,
        config=old["config"],
        author=author,
        notes=f"rollback to version {version}",
        now_us=now_us,
        rollback_of=version,
    )
    row = control.current_config(conn, org_id=org_id, namespace=namespace)
    assert row is not None
    return row


def rule_row(
    body: RuleIn, rule_id: str, now_us: int, created_at_us: int | None = None
) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "namespace": body.namespace,
        "surface": body.surface,
        "name": body.name,
        "action": body.action,
        "target_type": body.target_type,
        "target_key": body.target_key,
        "item_ids": list(body.item_ids),
        "boost_value": body.boost_value,
        "position": body.position,
        "segment_id": body.segment_id,
        "priority": body.priority,
        "enabled": body.enabled,
        "valid_from_us": to_micros(body.valid_from) if body.valid_from else None,
        "valid_until_us": to_micros(body.valid_until) if body.valid_until else None,
        "source": "api",
        "created_at_us": created_at_us if created_at_us is not None else now_us,
        "updated_at_us": now_us,
    }


def override_status(row: dict[str, Any], now_us: int) -> str:
    if row["cancelled_at_us"] is not None:
        return "cancelled"
    if row["expires_at_us"] is not None and now_us >= row["expires_at_us"]:
        return "expired"
    return "active"


def dry_run(
    state: ServiceState, org_id: str, body: RuleDryRun, now: datetime
) -> RuleDryRunResponse:
    """The list for a sample request without and with the proposed rule; nothing is stored."""
    if body.rule.namespace != body.namespace:
        raise ApiError(422, "validation_error", "rule.namespace must equal namespace")
    sample = RecommendationsRequest(
        namespace=body.namespace,
        user_id=body.request.user_id,
        k=body.request.k,
        surface=body.request.surface,
    )
    prepared = prepare(state, org_id, sample, now, k=sample.k)
    proposed = Rule.from_row(rule_row(body.rule, "proposed", to_micros(now)))
    with_rule = applicable(
        (*prepared.served.policy.rules, proposed),
        surface=prepared.request.surface,
        segment_id=prepared.resolved.starter_segment,
        now_us=prepared.request.now_us,
    )
    snapshot = prepared.served.snapshot
    before = state.pipeline.run(snapshot, prepared.request)
    after = state.pipeline.run(snapshot, dataclasses.replace(prepared.request, rules=with_rule))
    before_ids = [i.item_id for i in before.items]
    after_ids = [i.item_id for i in after.items]
    # An empty namespace runs no stage at all: nothing was touched.
    stage: dict[str, Any] = next((s for s in after.trace["stages"] if s["stage"] == "rules"), {})
    return RuleDryRunResponse(
        before=before_ids,
        after=after_ids,
        touched=stage.get("touched", {}),
        added=[i for i in after_ids if i not in before_ids],
        removed=[i for i in before_ids if i not in after_ids],
    )


def segment_dry_run(
    store: Store, org_id: str, body: SegmentDryRun, now: datetime
) -> SegmentDryRunResponse:
    """Which segments a user (by id, or by the traits given) and context would match, and the
    profile the winner would apply; nothing is stored."""
    traits = body.traits
    with store.read() as conn:
        rows = control.load_policy_rows(conn, org_id=org_id, namespace=body.namespace)
        if traits is None and body.user_id:
            found = list_users(
                conn, org_id=org_id, namespace=body.namespace, limit=1, user_ids=[body.user_id]
            )
            traits = found[0]["traits"] if found else {}
    policy = policy_from_rows(**rows)
    # As in ranking: the surface may be given in `request` or `context`; both paths see it.
    context, request = dict(body.context), dict(body.request)
    surface = request.get("surface") or context.get("surface")
    if isinstance(surface, str) and surface:
        context["surface"] = request["surface"] = surface
    env = build_env(traits=traits, context=context, request=request)
    result = evaluate_segments(policy.segments, env, now=body.now or now)
    chosen = next((s for s in policy.segments if s.segment_id == result.chosen), None)
    profile_id = chosen.profile_id if chosen and chosen.profile_id in policy.profiles else None
    return SegmentDryRunResponse(
        matched=list(result.matched),
        segment_id=result.chosen,
        profile_id=profile_id,
        profile=dict(policy.profiles[profile_id]) if profile_id else None,
    )


__all__ = [
    "dry_run",
    "override_status",
    "rollback_config",
    "rule_row",
    "segment_dry_run",
    "validated_config",
]

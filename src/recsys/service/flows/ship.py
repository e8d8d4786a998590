"""Canaries: a tuned candidate config served beside the incumbent on one surface until the
decision rule (bandit/canary.py) promotes it, rolls it back or gives up.

- `start` validates a candidate and stores the canary (one running canary per surface).
- `assign` puts a request on an arm: users by a stable hash at the canary's traffic share, the
  bandit experiment's holdout (if it covers the surface) on the control. Anonymous requests
  are not in the canary: nothing could reward them.
- `record` keeps the served list as a bandit decision (arm = policy `<canary>:candidate` or
  `<canary>:control`), so events reward it like any bandit decision (by `meta.decision_id`, or
  within the reward window), and counts it; every `look_every`-th treatment decision triggers
  a look.
- `look` applies the rule to the arms' statistics and the live guardrail; a verdict ends the
  canary: promotion writes a new config version (incumbent config + candidate overrides) whose
  notes link the run and the statistics, rollback and "no decision" leave the incumbent.

Every state lives in the store (the canary row, its decision counter, the arms' statistics), so
a restarted server resumes where it stopped; looks are counted, not timed, so what the rule saw
depends only on the traffic."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from recsys.bandit.algorithms import beta_parameters
from recsys.bandit.canary import (
    Arm,
    ArmEvidence,
    Assessment,
    CanaryRule,
    Verdict,
    arm_of,
    assess,
    coverage_guardrail,
)
from recsys.bandit.holdout import TrafficGroup
from recsys.clock import from_micros
from recsys.service.audit import user_hash
from recsys.service.errors import ApiError
from recsys.service.flows.control import validated_config
from recsys.service.schemas.bandit import GroupTotals, Posterior
from recsys.service.schemas.ship import ArmOut, CanaryOut, CanaryStart, RuleOut, StepOut
from recsys.service.state import BanditRuntime
from recsys.store import Store, control
from recsys.store import bandit as bandit_store
from recsys.store import canaries as canary_store
from recsys.store.repositories import Row

log = logging.getLogger("recsys.ship")

# Canary decisions are bandit decisions in a bucket of their own.
CANARY_BUCKET = "canary"
ALGORITHM = "canary"
ENDED: dict[Verdict, str] = {
    "promote": "promoted",
    "rollback": "rolled_back",
    "no_decision": "no_decision",
}
VERDICT_OF: dict[str, Verdict] = {status: verdict for verdict, status in ENDED.items()}


def arm_policy(canary_id: str, arm: Arm) -> str:
    return f"{canary_id}:{arm}"


def rule_of(canary: Mapping[str, Any]) -> CanaryRule:
    return CanaryRule(
        min_decisions=int(canary["min_decisions"]),
        confidence=float(canary["confidence"]),
        budget_decisions=int(canary["budget_decisions"]),
    )


# --- starting ---------------------------------------------------------------------------------


def validated_start(body: CanaryStart) -> tuple[dict[str, Any], CanaryRule]:
    """The candidate's overrides and the rule, or a 422 naming what is wrong."""
    if not body.overrides:
        raise ApiError(
            422,
            "validation_error",
            "overrides: the candidate changes no knob, so there is nothing to compare",
            {"errors": [{"loc": "overrides", "message": "empty"}]},
        )
    overrides = validated_config(body.overrides, "overrides", scope="request")
    try:
        rule = CanaryRule(
            min_decisions=body.min_decisions,
            confidence=body.confidence,
            budget_decisions=body.budget_decisions,
        )
    except ValueError as exc:
        raise ApiError(
            422,
            "validation_error",
            f"budget_decisions: {exc}",
            {"errors": [{"loc": "budget_decisions", "message": str(exc)}]},
        ) from exc
    return overrides, rule


def start(
    runtime: BanditRuntime,
    store: Store,
    body: CanaryStart,
    *,
    org_id: str,
    now_us: int,
) -> Row:
    """Store a running canary; 409 when one already runs on the surface."""
    overrides, rule = validated_start(body)
    canary_id = runtime.new_decision_id()[:32]
    with store.write() as conn:
        canary_store.lock_for_start(conn, org_id=org_id, namespace=body.namespace)
        busy = canary_store.running_on_surface(
            conn, org_id=org_id, namespace=body.namespace, surface=body.surface
        )
        if busy is not None:
            raise ApiError(
                409,
                "canary_running",
                f"canary {busy['canary_id']} already runs on surface {body.surface!r} of "
                f"namespace {body.namespace!r}; stop it or wait for its verdict",
                {"canary_id": busy["canary_id"]},
            )
        incumbent = control.current_config(conn, org_id=org_id, namespace=body.namespace)
        row: Row = {
            "canary_id": canary_id,
            "namespace": body.namespace,
            "surface": body.surface,
            "status": canary_store.RUNNING,
            "candidate": overrides,
            "incumbent_version": int(incumbent["version"]) if incumbent else 0,
            "traffic_share": float(body.traffic_share),
            "min_decisions": rule.min_decisions,
            "confidence": rule.confidence,
            "budget_decisions": rule.budget_decisions,
            "look_every": int(body.look_every),
            "min_coverage_ratio": float(body.min_coverage_ratio),
            "decisions": 0,
            "source": dict(body.source),
            "author": body.author,
            "reason": None,
            "p_better": None,
            "promoted_version": None,
            "created_at_us": now_us,
            "ended_at_us": None,
        }
        canary_store.insert_canary(conn, org_id=org_id, row=row)
        canary_store.add_step(
            conn,
            org_id=org_id,
            canary_id=canary_id,
            kind="started",
            at_us=now_us,
            evidence={
                "overrides": overrides,
                "incumbent_version": row["incumbent_version"],
                "traffic_share": row["traffic_share"],
                "source": row["source"],
            },
            reason=f"started by {body.author or 'the API'}",
        )
    runtime.canaries.invalidate()
    runtime.metrics.canary_steps.labels(
        runtime.metrics.bounded("namespace", body.namespace),
        runtime.metrics.bounded("surface", body.surface),
        "started",
    ).inc()
    log.info("canary %s started on %s/%s", canary_id, body.namespace, body.surface)
    return {**row, "org_id": org_id}


# --- serving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    canary: Row
    arm: Arm
    group: TrafficGroup
    overrides: Mapping[str, Any]

    @property
    def policy_id(self) -> str:
        return arm_policy(self.canary["canary_id"], self.arm)


def assign(
    runtime: BanditRuntime,
    store: Store,
    *,
    org_id: str,
    namespace: str,
    surface: str | None,
    user_id: str | None,
) -> Assignment | None:
    """The arm of this request, or None when no canary covers it."""
    if surface is None or not user_id:
        return None
    canary = runtime.canaries.running(store, org_id, namespace, surface)
    if canary is None:
        return None
    group: TrafficGroup = "treatment"
    if runtime.experiment.covers(surface):
        group = runtime.experiment.group(org_id=org_id, namespace=namespace, unit=user_id)
    arm: Arm = (
        "control"
        if group == "holdout"
        else arm_of(canary["canary_id"], user_id, canary["traffic_share"])
    )
    overrides = canary["candidate"] if arm == "candidate" else {}
    return Assignment(canary=canary, arm=arm, group=group, overrides=overrides)


def record(
    runtime: BanditRuntime,
    store: Store,
    assignment: Assignment,
    *,
    org_id: str,
    decision_id: str,
    user_id: str,
    items: list[str],
    now_us: int,
) -> Assessment | None:
    """Keep the served list as the arm's decision; look when the count says so (the look's
    assessment, or None when there was no look)."""
    canary = assignment.canary
    row = {
        "decision_id": decision_id,
        "surface": canary["surface"],
        "bucket_key": CANARY_BUCKET,
        "policy_id": assignment.policy_id,
        "algorithm": ALGORITHM,
        "explore": False,
        "traffic_group": assignment.group,
        "experiment_label": runtime.experiment.label if assignment.group == "holdout" else None,
        "candidates": [arm_policy(canary["canary_id"], a) for a in ("candidate", "control")],
        "user_hash": user_hash(org_id, user_id),
        "created_at_us": now_us,
        "reward": None,
        "rewarded_at_us": None,
        "items": items,
    }
    count = None
    with store.write() as conn:
        bandit_store.insert_decision(conn, org_id=org_id, namespace=canary["namespace"], row=row)
        if assignment.group == "treatment":
            count = canary_store.count_decision(conn, org_id=org_id, canary_id=canary["canary_id"])
    metrics = runtime.metrics
    metrics.decisions.labels(
        *metrics.labels(canary["namespace"], canary["surface"], assignment.policy_id, ALGORITHM)
    ).inc()
    if count is not None and (
        count % int(canary["look_every"]) == 0 or count >= int(canary["budget_decisions"])
    ):
        return look(runtime, store, org_id=org_id, canary_id=canary["canary_id"], now_us=now_us)
    return None


# --- the rule ---------------------------------------------------------------------------------


def arm_rows(conn: Connection, canary: Mapping[str, Any], group: TrafficGroup) -> dict[str, Row]:
    """The statistics rows of the canary's arms in one traffic group, by policy id."""
    return bandit_store.arm_statistics(
        conn,
        org_id=canary["org_id"],
        namespace=canary["namespace"],
        surface=canary["surface"],
        bucket_key=CANARY_BUCKET,
        traffic_group=group,
        policy_ids=[arm_policy(canary["canary_id"], a) for a in ("candidate", "control")],
    )


def evidence_of(conn: Connection, canary: Mapping[str, Any]) -> dict[str, ArmEvidence]:
    return _evidence(canary, arm_rows(conn, canary, "treatment"))


def _evidence(canary: Mapping[str, Any], stats: Mapping[str, Row]) -> dict[str, ArmEvidence]:
    out = {}
    for arm in ("candidate", "control"):
        row = stats.get(arm_policy(canary["canary_id"], arm))
        out[arm] = ArmEvidence(
            decisions=int(row["decisions"]) if row else 0,
            reward_sum=float(row["reward_sum"]) if row else 0.0,
        )
    return out


def _evidence_json(arms: Mapping[str, ArmEvidence]) -> dict[str, Any]:
    return {
        arm: {
            "decisions": e.decisions,
            "reward_sum": round(e.reward_sum, 6),
            "mean": round(e.reward_sum / e.decisions, 6) if e.decisions else None,
        }
        for arm, e in arms.items()
    }


def broken_guardrail(conn: Connection, canary: Mapping[str, Any], n: int) -> str | None:
    """The live guardrail over the first `n` lists of each arm (see coverage_guardrail), and
    the incumbent itself: if the namespace config moved on, the control no longer serves it."""
    current = control.current_config(conn, org_id=canary["org_id"], namespace=canary["namespace"])
    version = int(current["version"]) if current else 0
    if version != canary["incumbent_version"]:
        return (
            f"the namespace config changed during the canary (v{canary['incumbent_version']} -> "
            f"v{version}): the control no longer serves the incumbent"
        )
    if n < int(canary["min_decisions"]):
        return None
    lists = {
        arm: canary_store.served_lists(
            conn,
            org_id=canary["org_id"],
            namespace=canary["namespace"],
            surface=canary["surface"],
            policy_id=arm_policy(canary["canary_id"], arm),
            limit=n,
        )
        for arm in ("candidate", "control")
    }
    return coverage_guardrail(
        lists["candidate"], lists["control"], float(canary["min_coverage_ratio"])
    )


def look(
    runtime: BanditRuntime, store: Store, *, org_id: str, canary_id: str, now_us: int
) -> Assessment | None:
    """Apply the rule now; a verdict ends the canary. None when it had already ended."""
    with store.write() as conn:
        canary = canary_store.get_canary(conn, org_id=org_id, canary_id=canary_id)
        if canary is None or canary["status"] != canary_store.RUNNING:
            return None
        arms = evidence_of(conn, canary)
        n = min(arms["candidate"].decisions, arms["control"].decisions)
        broken = broken_guardrail(conn, canary, n)
        verdict = assess(
            rule_of(canary), arms["candidate"], arms["control"], broken_guardrail=broken
        )
        evidence = _evidence_json(arms)
        canary_store.add_step(
            conn,
            org_id=org_id,
            canary_id=canary_id,
            kind="look",
            at_us=now_us,
            evidence=evidence,
            verdict=verdict.verdict,
            p_better=verdict.p_candidate_better,
            reason=verdict.reason,
        )
        canary_store.note_look(
            conn, org_id=org_id, canary_id=canary_id, p_better=verdict.p_candidate_better
        )
        if verdict.verdict != "collecting":
            _conclude(conn, canary, verdict, evidence, now_us)
    labels = (
        runtime.metrics.bounded("namespace", canary["namespace"]),
        runtime.metrics.bounded("surface", canary["surface"]),
    )
    runtime.metrics.canary_steps.labels(*labels, "look").inc()
    if verdict.verdict != "collecting":
        runtime.canaries.invalidate()
        runtime.metrics.canary_steps.labels(*labels, ENDED[verdict.verdict]).inc()
        log.info("canary %s: %s (%s)", canary_id, ENDED[verdict.verdict], verdict.reason)
    return verdict


def _conclude(
    conn: Connection,
    canary: Row,
    verdict: Assessment,
    evidence: Mapping[str, Any],
    now_us: int,
) -> None:
    """End the canary with its verdict, in the look's transaction; promotion writes the new
    config version in the same one (so a canary is promoted exactly once)."""
    org_id, namespace = canary["org_id"], canary["namespace"]
    status = ENDED[verdict.verdict]
    promoted = None
    reason = verdict.reason
    if verdict.verdict == "promote":
        incumbent = control.config_version(
            conn, org_id=org_id, namespace=namespace, version=canary["incumbent_version"]
        )
        config = {**(incumbent["config"] if incumbent else {}), **canary["candidate"]}
        promoted = control.insert_config(
            conn,
            org_id=org_id,
            namespace=namespace,
            config=config,
            author=f"recsys ship (canary {canary['canary_id']})",
            notes=promotion_notes(canary, verdict, evidence),
            now_us=now_us,
        )
        reason = f"{reason}; config v{promoted} written"
    else:
        reason = f"{reason}; config v{canary['incumbent_version']} stays"
    canary_store.finish(
        conn,
        org_id=org_id,
        canary_id=canary["canary_id"],
        status=status,
        reason=reason,
        p_better=verdict.p_candidate_better,
        now_us=now_us,
        promoted_version=promoted,
    )
    canary_store.add_step(
        conn,
        org_id=org_id,
        canary_id=canary["canary_id"],
        kind=status,
        at_us=now_us,
        evidence={**evidence, "promoted_version": promoted},
        verdict=verdict.verdict,
        p_better=verdict.p_candidate_better,
        reason=reason,
    )


def promotion_notes(
    canary: Mapping[str, Any], verdict: Assessment, evidence: Mapping[str, Any]
) -> str:
    """A promoted version's notes: the canary, the run it came from, and the statistics."""
    source = canary["source"] or {}
    return json.dumps(
        {
            "promoted_by": "canary",
            "canary_id": canary["canary_id"],
            "surface": canary["surface"],
            "incumbent_version": canary["incumbent_version"],
            "run": {k: source[k] for k in ("run_dir", "run", "evidence") if k in source},
            "statistics": dict(evidence),
            "p_candidate_better": round(verdict.p_candidate_better, 6),
            "rule": verdict.reason,
        },
        sort_keys=True,
    )


def stop(
    runtime: BanditRuntime,
    store: Store,
    *,
    org_id: str,
    canary_id: str,
    reason: str | None,
    author: str | None,
    now_us: int,
) -> Row:
    """End a running canary by hand (the incumbent stays); 404 unknown, 409 already ended."""
    with store.write() as conn:
        canary = canary_store.get_canary(conn, org_id=org_id, canary_id=canary_id)
        if canary is None:
            raise ApiError(404, "canary_not_found", f"no canary {canary_id!r}")
        if canary["status"] != canary_store.RUNNING:
            raise ApiError(
                409,
                "canary_ended",
                f"canary {canary_id!r} already ended ({canary['status']})",
                {"status": canary["status"]},
            )
        arms = evidence_of(conn, canary)
        why = (
            f"stopped by {author or 'the API'}"
            + (f": {reason}" if reason else "")
            + f"; config v{canary['incumbent_version']} stays"
        )
        canary_store.finish(
            conn,
            org_id=org_id,
            canary_id=canary_id,
            status="stopped",
            reason=why,
            p_better=canary["p_better"],
            now_us=now_us,
        )
        canary_store.add_step(
            conn,
            org_id=org_id,
            canary_id=canary_id,
            kind="stopped",
            at_us=now_us,
            evidence=_evidence_json(arms),
            reason=why,
        )
        ended = canary_store.get_canary(conn, org_id=org_id, canary_id=canary_id)
    assert ended is not None
    runtime.canaries.invalidate()
    runtime.metrics.canary_steps.labels(
        runtime.metrics.bounded("namespace", canary["namespace"]),
        runtime.metrics.bounded("surface", canary["surface"]),
        "stopped",
    ).inc()
    return ended


# --- status -----------------------------------------------------------------------------------


def view(conn: Connection, canary: Row, *, now_us: int, with_steps: bool) -> CanaryOut:
    """The canary's state: arms with posteriors, holdout totals, what the rule says so far (for
    a running canary) or said last, the budget and time left, and (on request) the trail."""
    holdout = arm_rows(conn, canary, "holdout")
    treatment = arm_rows(conn, canary, "treatment")
    arms = _evidence(canary, treatment)
    rule = rule_of(canary)
    now = assess(rule, arms["candidate"], arms["control"])
    if canary["status"] == canary_store.RUNNING:
        verdict, reason = now.verdict, now.reason
    else:
        verdict, reason = VERDICT_OF.get(canary["status"], "no_decision"), canary["reason"] or ""
    total = arms["candidate"].decisions + arms["control"].decisions
    left = max(rule.budget_decisions - total, 0)
    elapsed_s = (now_us - canary["created_at_us"]) / 1e6
    seconds_left = (
        left * elapsed_s / total
        if canary["status"] == canary_store.RUNNING and total and elapsed_s > 0
        else None
    )
    held = holdout.get(arm_policy(canary["canary_id"], "control"))
    steps = (
        [
            StepOut(
                kind=step["kind"],
                at=from_micros(step["at_us"]),
                verdict=step["verdict"],
                p_candidate_better=step["p_better"],
                reason=step["reason"],
                evidence=step["evidence"],
            )
            for step in canary_store.list_steps(
                conn, org_id=canary["org_id"], canary_id=canary["canary_id"]
            )
        ]
        if with_steps
        else None
    )
    return CanaryOut(
        canary_id=canary["canary_id"],
        namespace=canary["namespace"],
        surface=canary["surface"],
        status=canary["status"],
        overrides=canary["candidate"],
        incumbent_version=canary["incumbent_version"],
        traffic_share=canary["traffic_share"],
        rule=RuleOut(
            min_decisions=rule.min_decisions,
            confidence=rule.confidence,
            budget_decisions=rule.budget_decisions,
            look_every=canary["look_every"],
            min_coverage_ratio=canary["min_coverage_ratio"],
        ),
        source=canary["source"],
        author=canary["author"],
        created_at=from_micros(canary["created_at_us"]),
        ended_at=from_micros(canary["ended_at_us"]) if canary["ended_at_us"] else None,
        arms=[_arm_out(canary, arm, treatment) for arm in ("candidate", "control")],
        holdout=GroupTotals(
            decisions=int(held["decisions"]) if held else 0,
            rewards=int(held["rewards"]) if held else 0,
            reward_sum=float(held["reward_sum"]) if held else 0.0,
            mean=held["reward_sum"] / held["decisions"] if held and held["decisions"] else None,
        ),
        p_candidate_better=now.p_candidate_better,
        verdict=verdict,
        reason=reason,
        decisions_left=left,
        seconds_left=seconds_left,
        promoted_version=canary["promoted_version"],
        steps=steps,
    )


def _arm_out(canary: Row, arm: Arm, stats: Mapping[str, Row]) -> ArmOut:
    policy_id = arm_policy(canary["canary_id"], arm)
    row = stats.get(policy_id)
    decisions = int(row["decisions"]) if row else 0
    total = float(row["reward_sum"]) if row else 0.0
    (alpha,), (beta,) = beta_parameters([decisions], [total])
    return ArmOut(
        arm=arm,
        policy_id=policy_id,
        decisions=decisions,
        rewards=int(row["rewards"]) if row else 0,
        reward_sum=total,
        mean=total / decisions if decisions else None,
        posterior=Posterior(
            alpha=float(alpha), beta=float(beta), mean=float(alpha / (alpha + beta))
        ),
    )


__all__ = [
    "CANARY_BUCKET",
    "Assignment",
    "arm_policy",
    "assign",
    "look",
    "record",
    "rule_of",
    "start",
    "stop",
    "view",
]

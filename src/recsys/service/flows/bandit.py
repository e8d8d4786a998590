"""The bandit's steps against the store, shared by the bandit routes: validate policies, choose
a policy for a request (`decide`), keep the decision (`record`), take its reward (`reward`),
and summarise the statistics. HTTP-shaped errors come out as ApiError; nothing is written
before every check has passed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from recsys.bandit import Algorithm
from recsys.bandit.algorithms import beta_parameters
from recsys.bandit.buckets import BucketError, bucket_key
from recsys.bandit.holdout import TRAFFIC_GROUPS, TrafficGroup, assignment_unit
from recsys.config.knobs import KnobError, parse_overrides
from recsys.service.audit import user_hash
from recsys.service.errors import ApiError
from recsys.service.schemas.bandit import (
    DEFAULT_POLICY_ID,
    MAX_POLICIES_PER_NAMESPACE,
    SURFACE_PATTERN,
    AlgorithmOut,
    ArmStatistics,
    BucketStatistics,
    ExperimentOut,
    GroupTotals,
    PoliciesUpsert,
    Posterior,
    StatisticsResponse,
)
from recsys.service.state import BanditRuntime
from recsys.store import Store
from recsys.store import bandit as bandit_store
from recsys.store.repositories import Row

# --- policies ---------------------------------------------------------------------------------


def validated_policies(body: PoliciesUpsert, now_us: int) -> list[Row]:
    """Rows to upsert, or one 422 naming every problem of the batch."""
    seen: dict[str, int] = {}
    structural: list[dict[str, Any]] = []
    knob_errors: list[dict[str, Any]] = []
    rows: list[Row] = []
    for index, policy in enumerate(body.policies):
        if policy.policy_id in seen:
            structural.append(
                {
                    "loc": f"policies[{index}].policy_id",
                    "index": index,
                    "field": "policy_id",
                    "message": f"duplicate of policies[{seen[policy.policy_id]}]",
                }
            )
        seen.setdefault(policy.policy_id, index)
        try:
            # A policy's config applies per request: namespace-level knobs are refused.
            parsed = parse_overrides(policy.config, scope="request")
        except KnobError as exc:
            parsed = {}
            knob_errors.extend(
                {
                    "loc": f"policies[{index}].config.{key}",
                    "index": index,
                    "field": f"config.{key}",
                    "message": message,
                }
                for key, message in exc.errors.items()
            )
        rows.append(
            {
                "policy_id": policy.policy_id,
                "name": policy.name or policy.policy_id,
                "active": policy.active,
                "control": policy.control,
                "config": {k: list(v) if isinstance(v, tuple) else v for k, v in parsed.items()},
                "created_at_us": now_us,
                "updated_at_us": now_us,
            }
        )
    controls = [i for i, p in enumerate(body.policies) if p.control]
    if len(controls) > 1:
        structural.extend(
            {
                "loc": f"policies[{i}].control",
                "index": i,
                "field": "control",
                "message": "at most one policy of a namespace is the control",
            }
            for i in controls
        )
    if structural:
        first = structural[0]
        raise ApiError(
            422,
            "validation_error",
            f"{first['loc']}: {first['message']}"
            + (f" (+{len(structural) - 1} more)" if len(structural) > 1 else ""),
            {"errors": structural},
        )
    if knob_errors:
        raise ApiError(
            422,
            "invalid_config",
            f"{len(knob_errors)} invalid knob(s): " + ", ".join(e["loc"] for e in knob_errors),
            {"errors": knob_errors},
        )
    return rows


def store_policies(store: Store, *, org_id: str, namespace: str, rows: Sequence[Row]) -> int:
    """Upsert atomically; the whole batch is refused if the namespace would break a limit."""
    with store.write() as conn:
        count = bandit_store.upsert_policies(conn, org_id=org_id, namespace=namespace, rows=rows)
        stored = bandit_store.list_policies(conn, org_id=org_id, namespace=namespace)
        if len(stored) > MAX_POLICIES_PER_NAMESPACE:
            raise ApiError(
                422,
                "too_many_policies",
                f"a namespace holds at most {MAX_POLICIES_PER_NAMESPACE} bandit policies; "
                f"this batch would make {len(stored)}",
                {"limit": MAX_POLICIES_PER_NAMESPACE, "would_be": len(stored)},
            )
        controls = sorted(p["policy_id"] for p in stored if p["control"])
        if len(controls) > 1:
            raise ApiError(
                409,
                "control_policy_conflict",
                f"a namespace has one control policy; this batch would make {controls} control. "
                "To move the flag, send the current control with control: false in the same batch",
                {"control_policy_ids": controls},
            )
    return count


# --- deciding ---------------------------------------------------------------------------------


def bandit_surface(surface: str | None, context: Mapping[str, Any]) -> str:
    """The surface of a bandit request: top level, else `context.surface`; required."""
    value = surface or context.get("surface")
    if not isinstance(value, str) or not value:
        raise ApiError(
            422,
            "validation_error",
            "surface: required for bandit requests (top level or context.surface)",
            {"errors": [{"loc": "surface", "field": "surface", "message": "required"}]},
        )
    # The schema pattern cannot name surrogates (its engine works on valid Unicode only).
    if re.fullmatch(SURFACE_PATTERN, value) is None or re.search("[\ud800-\udfff]", value):
        raise ApiError(
            422,
            "validation_error",
            "surface: 1-64 printable characters",
            {"errors": [{"loc": "surface", "field": "surface", "message": "1-64 printable"}]},
        )
    return value


def context_bucket(context: Mapping[str, Any]) -> str:
    try:
        return bucket_key(context)
    except BucketError as exc:
        loc = f"context.{exc.key}" if exc.key is not None else "context"
        raise ApiError(
            422, "invalid_context", str(exc), {"errors": [{"loc": loc, "message": str(exc)}]}
        ) from exc


@dataclass(frozen=True)
class Decision:
    decision_id: str
    surface: str
    bucket_key: str
    policy_id: str
    config: dict[str, Any]
    algorithm: AlgorithmOut  # "control" for holdout traffic
    explore: bool
    group: TrafficGroup
    experiment: ExperimentOut | None
    candidates: tuple[str, ...]
    user_id: str | None


def _arms(
    policies: Mapping[str, Row], candidate_policy_ids: Sequence[str] | None, namespace: str
) -> list[str]:
    """Active candidate policy ids in policy_id order (the algorithms' tie-break order)."""
    if candidate_policy_ids is None:
        ids = list(policies)
    else:
        ids = list(dict.fromkeys(candidate_policy_ids))
        unknown = [i for i in ids if i not in policies]
        if unknown:
            raise ApiError(
                422,
                "unknown_policy",
                f"no bandit policy {', '.join(map(repr, unknown))} in namespace {namespace!r}",
                {
                    "unknown_policy_ids": unknown,
                    "errors": [
                        {"loc": "candidate_policy_ids", "message": f"unknown policy {i!r}"}
                        for i in unknown
                    ],
                },
            )
    active = sorted(i for i in ids if policies[i]["active"])
    if not active:
        message = (
            f"namespace {namespace!r} has no active bandit policy; "
            "add some with POST /v1/bandit/policies:upsert"
            if candidate_policy_ids is None
            else f"none of the candidate policies {ids} is active"
        )
        raise ApiError(409, "no_active_policies", message, {"candidate_policy_ids": ids})
    return active


def decide(
    runtime: BanditRuntime,
    store: Store,
    *,
    org_id: str,
    namespace: str,
    surface: str,
    context: Mapping[str, Any],
    user_id: str | None,
    candidate_policy_ids: Sequence[str] | None,
    algorithm: Algorithm | None,
) -> Decision:
    """Choose a policy (nothing is stored: `record` keeps the decision once it is served)."""
    bucket = context_bucket(context)
    chosen_algorithm = algorithm or runtime.default_algorithm
    experiment = runtime.experiment
    with store.read() as conn:
        policies = {
            row["policy_id"]: row
            for row in bandit_store.list_policies(conn, org_id=org_id, namespace=namespace)
        }
        arms = _arms(policies, candidate_policy_ids, namespace)
        decision_id = runtime.new_decision_id()
        group: TrafficGroup = "treatment"
        labelled = None
        if experiment.covers(surface):
            unit = assignment_unit(user_id=user_id, decision_id=decision_id)
            group = experiment.group(org_id=org_id, namespace=namespace, unit=unit)
            labelled = ExperimentOut(
                label=experiment.label, group=group, holdout_percent=experiment.holdout_percent
            )
        stats = (
            bandit_store.arm_statistics(
                conn,
                org_id=org_id,
                namespace=namespace,
                surface=surface,
                bucket_key=bucket,
                traffic_group="treatment",
                policy_ids=arms,
            )
            if group == "treatment"
            else {}
        )
    if group == "holdout":
        # The holdout never meets the bandit: it gets the control policy, whatever its state.
        control = next((policies[i] for i in sorted(policies) if policies[i]["control"]), None)
        policy_id = control["policy_id"] if control else DEFAULT_POLICY_ID
        config = dict(control["config"]) if control else {}
        used: AlgorithmOut = "control"
        explore = False
    else:
        pulls = [stats[a]["decisions"] if a in stats else 0 for a in arms]
        sums = [stats[a]["reward_sum"] if a in stats else 0.0 for a in arms]
        choice = runtime.choose(chosen_algorithm, pulls, sums)
        policy_id = arms[choice.arm]
        config = dict(policies[policy_id]["config"])
        used, explore = chosen_algorithm, choice.explore
    return Decision(
        decision_id=decision_id,
        surface=surface,
        bucket_key=bucket,
        policy_id=policy_id,
        config=config,
        algorithm=used,
        explore=explore,
        group=group,
        experiment=labelled,
        candidates=tuple(arms),
        user_id=user_id,
    )


def record(
    runtime: BanditRuntime,
    store: Store,
    decision: Decision,
    *,
    org_id: str,
    namespace: str,
    now_us: int,
    items: Sequence[str] | None = None,
) -> None:
    """Keep the decision (with the items it served, if any) and count it in its arm's
    statistics, in one transaction."""
    row = {
        "decision_id": decision.decision_id,
        "surface": decision.surface,
        "bucket_key": decision.bucket_key,
        "policy_id": decision.policy_id,
        "algorithm": decision.algorithm,
        "explore": decision.explore,
        "traffic_group": decision.group,
        "experiment_label": decision.experiment.label if decision.experiment else None,
        "candidates": list(decision.candidates),
        "user_hash": user_hash(org_id, decision.user_id),
        "created_at_us": now_us,
        "reward": None,
        "rewarded_at_us": None,
        "items": None if items is None else list(items),
    }
    with store.write() as conn:
        bandit_store.insert_decision(conn, org_id=org_id, namespace=namespace, row=row)
    metrics = runtime.metrics
    metrics.decisions.labels(
        *metrics.labels(namespace, decision.surface, decision.policy_id, decision.algorithm)
    ).inc()


# --- rewards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardOutcome:
    decision: Row
    reward: float  # the decision's recorded reward
    duplicate: bool


def reward(
    runtime: BanditRuntime,
    store: Store,
    *,
    org_id: str,
    namespace: str,
    decision_id: str,
    value: float,
    now_us: int,
) -> RewardOutcome:
    """The first reward of a decision counts; the same value again is a harmless duplicate,
    another value a 409. A decision of another org or namespace is unknown (404)."""
    with store.write() as conn:
        row = bandit_store.get_decision(
            conn, org_id=org_id, namespace=namespace, decision_id=decision_id
        )
        if row is None:
            raise ApiError(
                404,
                "decision_not_found",
                f"no bandit decision {decision_id!r} in namespace {namespace!r}",
            )
        recorded = row["reward"] is None and bandit_store.record_reward(
            conn, org_id=org_id, namespace=namespace, decision=row, reward=value, now_us=now_us
        )
        current = row["reward"]
        if not recorded and current is None:
            # A concurrent reward committed first: read what it kept.
            latest = bandit_store.get_decision(
                conn, org_id=org_id, namespace=namespace, decision_id=decision_id
            )
            assert latest is not None
            current = latest["reward"]
    if recorded:
        count_rewards(runtime, namespace, [(row, value)])
        return RewardOutcome(decision=row, reward=value, duplicate=False)
    if current == value:
        return RewardOutcome(decision=row, reward=value, duplicate=True)
    raise ApiError(
        409,
        "reward_already_recorded",
        f"decision {decision_id!r} already has reward {current:g}; a decision takes one reward",
        {"decision_id": decision_id, "recorded_reward": current, "reward": value},
    )


@dataclass(frozen=True)
class RewardClaims:
    """What a batch of events says about bandit decisions, before any is looked up: rewards for
    decisions named by id, and events that may answer a recent recommendation of their user."""

    named: Mapping[str, float]
    unnamed: Sequence[tuple[Mapping[str, Any], float]]

    def __bool__(self) -> bool:
        return bool(self.named or self.unnamed)


def reward_claims(
    events: Sequence[Mapping[str, Any]],
    *,
    rewards_by_type: Sequence[float],
    window_us: int,
    now_us: int,
) -> RewardClaims:
    """An event answers a decision when its `meta.decision_id` names it, or — with no decision
    id, when `window_us` > 0 and the event is that recent — possibly the latest decision that
    served its item to its user within `window_us` before it. The reward is the event type's
    (`rewards_by_type`, by type code; a type worth 0 answers nothing), the largest of a named
    decision's events in the batch. Pure: computed outside the write transaction."""
    named: dict[str, float] = {}
    unnamed = []
    for event in events:
        value = rewards_by_type[int(event["type"])]
        if value <= 0:
            continue
        meta = event.get("meta") or {}
        decision_id = meta.get("decision_id") if isinstance(meta, Mapping) else None
        if isinstance(decision_id, str):
            named[decision_id] = max(value, named.get(decision_id, 0.0))
        elif window_us > 0 and now_us - window_us <= event["ts_us"] <= now_us:
            unnamed.append((event, value))
    return RewardClaims(named=named, unnamed=unnamed)


def record_event_rewards(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    claims: RewardClaims,
    window_us: int,
    now_us: int,
) -> list[tuple[Row, float]]:
    """Reward the decisions the claims answer, in the transaction that stores their events. A
    decision keeps its first reward only — so a resent batch, a later purchase after a click or
    an explicit /v1/bandit/reward first all leave it in place. Decisions that are unknown (or
    another namespace's) are ignored: the events are stored all the same. Returns the
    (decision, reward) pairs recorded now."""
    best = dict(claims.named)
    rows = _served_decisions(conn, org_id, namespace, claims.unnamed, window_us)
    for event, value in claims.unnamed:
        hashed = user_hash(org_id, event["user_id"])
        served = [
            row
            for row in rows.values()
            if row["user_hash"] == hashed
            and row["created_at_us"] <= event["ts_us"] <= row["created_at_us"] + window_us
            and event["item_id"] in row["items"]
        ]
        if served:
            latest = max(served, key=lambda row: (row["created_at_us"], row["decision_id"]))
            best[latest["decision_id"]] = max(value, best.get(latest["decision_id"], 0.0))
    recorded = []
    for decision_id, value in best.items():
        found = rows.get(decision_id) or bandit_store.get_decision(
            conn, org_id=org_id, namespace=namespace, decision_id=decision_id
        )
        if (
            found is not None
            and found["reward"] is None
            and bandit_store.record_reward(
                conn,
                org_id=org_id,
                namespace=namespace,
                decision=found,
                reward=value,
                now_us=now_us,
            )
        ):
            recorded.append((found, value))
    return recorded


def _served_decisions(
    conn: Connection,
    org_id: str,
    namespace: str,
    unnamed: Sequence[tuple[Mapping[str, Any], float]],
    window_us: int,
) -> dict[str, Row]:
    """The unrewarded decisions that served items to these events' users within the window
    before the earliest of them, by id: one indexed query for the batch."""
    if not unnamed:
        return {}
    users = {user_hash(org_id, event["user_id"]) for event, _ in unnamed}
    since = min(int(event["ts_us"]) for event, _ in unnamed) - window_us
    found = bandit_store.recent_served_decisions(
        conn,
        org_id=org_id,
        namespace=namespace,
        user_hashes=sorted(h for h in users if h is not None),
        since_us=since,
    )
    return {row["decision_id"]: row for row in found}


def count_rewards(
    runtime: BanditRuntime, namespace: str, recorded: Sequence[tuple[Row, float]]
) -> None:
    """Prometheus counters for rewards recorded (after their transaction committed)."""
    for row, value in recorded:
        labels = runtime.metrics.labels(
            namespace, row["surface"], row["policy_id"], row["algorithm"]
        )
        runtime.metrics.rewards.labels(*labels).inc()
        runtime.metrics.reward_sum.labels(*labels).inc(value)


# --- statistics -------------------------------------------------------------------------------


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def summarise(namespace: str, surface: str | None, rows: Sequence[Row]) -> StatisticsResponse:
    """Per-arm statistics split by surface and bucket, and totals per traffic group."""
    group_order = {g: n for n, g in enumerate(TRAFFIC_GROUPS)}
    ordered = sorted(
        rows,
        key=lambda r: (
            r["surface"],
            r["bucket_key"],
            group_order.get(r["traffic_group"], 99),
            r["policy_id"],
        ),
    )
    buckets: dict[tuple[str, str], list[ArmStatistics]] = {}
    totals = {g: [0, 0, 0.0] for g in TRAFFIC_GROUPS}
    for r in ordered:
        (alpha,), (beta,) = beta_parameters([r["decisions"]], [r["reward_sum"]])
        arm = ArmStatistics(
            policy_id=r["policy_id"],
            group=r["traffic_group"],
            decisions=r["decisions"],
            rewards=r["rewards"],
            reward_sum=r["reward_sum"],
            mean=r["reward_sum"] / r["decisions"] if r["decisions"] else 0.0,
            posterior=Posterior(
                alpha=float(alpha), beta=float(beta), mean=float(alpha / (alpha + beta))
            ),
        )
        buckets.setdefault((r["surface"], r["bucket_key"]), []).append(arm)
        total = totals[r["traffic_group"]]
        total[0] += r["decisions"]
        total[1] += r["rewards"]
        total[2] += r["reward_sum"]
    return StatisticsResponse(
        namespace=namespace,
        surface=surface,
        totals={
            g: GroupTotals(
                decisions=int(t[0]),
                rewards=int(t[1]),
                reward_sum=float(t[2]),
                mean=_mean(float(t[2]), int(t[0])),
            )
            for g, t in totals.items()
        },
        buckets=[
            BucketStatistics(surface=s, bucket_key=b, arms=arms) for (s, b), arms in buckets.items()
        ],
    )


__all__ = [
    "Decision",
    "RewardOutcome",
    "bandit_surface",
    "context_bucket",
    "decide",
    "record",
    "reward",
    "store_policies",
    "summarise",
    "validated_policies",
]

"""Bandit data access: policies, decisions and their rewards, per-arm statistics.

Keyword-only, scoped by org + namespace, never commits (the request owns the transaction).
Policy writes take the namespace lock like every control-plane write. The hot path (a decision,
a reward) does not: each of its writes is a single-row statement that is atomic on its own —
counters move with `x = x + :v`, and a reward is kept only by an UPDATE conditioned on
`reward IS NULL`, which PostgreSQL re-checks after waiting for a concurrent writer of the row —
so correctness never depends on the lock, and decisions do not queue behind the namespace's
event ingestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select, update

from recsys.store.repositories import Row, dialect_insert, lock_namespace
from recsys.store.schema import bandit_decisions, bandit_policies, bandit_stats

_POLICY_FIELDS = ("name", "active", "control", "config", "updated_at_us")

# --- policies ---------------------------------------------------------------------------------


def list_policies(conn: Connection, *, org_id: str, namespace: str) -> list[Row]:
    stmt = (
        select(bandit_policies)
        .where(bandit_policies.c.org_id == org_id, bandit_policies.c.namespace == namespace)
        .order_by(bandit_policies.c.policy_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def upsert_policies(conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]) -> int:
    """Insert or replace policies by id; a replaced policy keeps its `created_at_us`."""
    if not rows:
        return 0
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    values = [
        {**row, "org_id": org_id, "namespace": namespace}
        for row in sorted(rows, key=lambda r: r["policy_id"])
    ]
    stmt = dialect_insert(conn, bandit_policies)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace", "policy_id"],
            set_={name: stmt.excluded[name] for name in _POLICY_FIELDS},
        ),
        values,
    )
    return len(values)


# --- decisions and rewards --------------------------------------------------------------------


def insert_decision(conn: Connection, *, org_id: str, namespace: str, row: Row) -> None:
    """Store a decision and count it in its arm's statistics, in the caller's transaction."""
    conn.execute(bandit_decisions.insert().values(**row, org_id=org_id, namespace=namespace))
    stmt = dialect_insert(conn, bandit_stats).values(
        org_id=org_id,
        namespace=namespace,
        surface=row["surface"],
        bucket_key=row["bucket_key"],
        policy_id=row["policy_id"],
        traffic_group=row["traffic_group"],
        decisions=1,
        rewards=0,
        reward_sum=0.0,
        updated_at_us=row["created_at_us"],
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                "org_id",
                "namespace",
                "surface",
                "bucket_key",
                "policy_id",
                "traffic_group",
            ],
            set_={
                "decisions": bandit_stats.c.decisions + 1,
                "updated_at_us": stmt.excluded.updated_at_us,
            },
        )
    )


def get_decision(conn: Connection, *, org_id: str, namespace: str, decision_id: str) -> Row | None:
    stmt = select(bandit_decisions).where(
        bandit_decisions.c.org_id == org_id,
        bandit_decisions.c.namespace == namespace,
        bandit_decisions.c.decision_id == decision_id,
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def recent_served_decisions(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    user_hashes: Sequence[str],
    since_us: int,
) -> list[Row]:
    """Unrewarded decisions that served items to any of these users since `since_us`."""
    if not user_hashes:
        return []
    t = bandit_decisions
    stmt = select(t).where(
        t.c.org_id == org_id,
        t.c.namespace == namespace,
        t.c.user_hash.in_(list(user_hashes)),
        t.c.created_at_us >= since_us,
        t.c.reward.is_(None),
        t.c["items"].is_not(None),  # `t.c.items` is the collection's own method
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def record_reward(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    decision: Row,
    reward: float,
    now_us: int,
) -> bool:
    """Keep `reward` as the decision's first reward and add it to its arm's statistics.

    Returns False (and changes nothing) when the decision already has a reward, including one
    that a concurrent transaction recorded first.
    """
    kept = conn.execute(
        update(bandit_decisions)
        .where(
            bandit_decisions.c.org_id == org_id,
            bandit_decisions.c.namespace == namespace,
            bandit_decisions.c.decision_id == decision["decision_id"],
            bandit_decisions.c.reward.is_(None),
        )
        .values(reward=reward, rewarded_at_us=now_us)
    )
    if kept.rowcount != 1:
        return False
    counted = conn.execute(
        update(bandit_stats)
        .where(
            bandit_stats.c.org_id == org_id,
            bandit_stats.c.namespace == namespace,
            bandit_stats.c.surface == decision["surface"],
            bandit_stats.c.bucket_key == decision["bucket_key"],
            bandit_stats.c.policy_id == decision["policy_id"],
            bandit_stats.c.traffic_group == decision["traffic_group"],
        )
        .values(
            rewards=bandit_stats.c.rewards + 1,
            reward_sum=bandit_stats.c.reward_sum + reward,
            updated_at_us=now_us,
        )
    )
    if counted.rowcount != 1:
        # insert_decision wrote that row in the decision's own transaction.
        raise RuntimeError(f"no statistics row for decision {decision['decision_id']!r}")
    return True


# --- statistics -------------------------------------------------------------------------------


def arm_statistics(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    surface: str,
    bucket_key: str,
    traffic_group: str,
    policy_ids: Iterable[str],
) -> dict[str, Row]:
    """Statistics rows of the given arms in one bucket, by policy id (absent = never chosen)."""
    ids = sorted(set(policy_ids))
    if not ids:
        return {}
    stmt = select(bandit_stats).where(
        bandit_stats.c.org_id == org_id,
        bandit_stats.c.namespace == namespace,
        bandit_stats.c.surface == surface,
        bandit_stats.c.bucket_key == bucket_key,
        bandit_stats.c.traffic_group == traffic_group,
        bandit_stats.c.policy_id.in_(ids),
    )
    return {row["policy_id"]: dict(row) for row in conn.execute(stmt).mappings()}


def list_statistics(
    conn: Connection, *, org_id: str, namespace: str, surface: str | None = None
) -> list[Row]:
    """Every statistics row of the namespace (or of one surface), in key order."""
    conditions = [bandit_stats.c.org_id == org_id, bandit_stats.c.namespace == namespace]
    if surface is not None:
        conditions.append(bandit_stats.c.surface == surface)
    stmt = (
        select(bandit_stats)
        .where(*conditions)
        .order_by(
            bandit_stats.c.surface,
            bandit_stats.c.bucket_key,
            bandit_stats.c.traffic_group,
            bandit_stats.c.policy_id,
        )
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


__all__ = [
    "arm_statistics",
    "get_decision",
    "insert_decision",
    "list_policies",
    "list_statistics",
    "record_reward",
    "upsert_policies",
]

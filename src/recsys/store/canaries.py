"""Canary data access: the canary rows, their decision counter, and their audit trail.

Keyword-only, scoped by org, never commits (the caller owns the transaction). Starting a canary
takes the namespace lock, so two starts on one surface cannot both see it free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from recsys.store.repositories import Row, lock_namespace
from recsys.store.schema import bandit_decisions, canaries, canary_steps

RUNNING = "running"


def running_canaries(conn: Connection) -> list[Row]:
    """Every running canary of every tenant (few: one per surface at most), for the serving
    cache."""
    stmt = select(canaries).where(canaries.c.status == RUNNING).order_by(canaries.c.canary_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def list_canaries(
    conn: Connection, *, org_id: str, namespace: str, status: str | None = None
) -> list[Row]:
    """A namespace's canaries, newest first."""
    conditions = [canaries.c.org_id == org_id, canaries.c.namespace == namespace]
    if status is not None:
        conditions.append(canaries.c.status == status)
    stmt = (
        select(canaries)
        .where(*conditions)
        .order_by(canaries.c.created_at_us.desc(), canaries.c.canary_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def get_canary(conn: Connection, *, org_id: str, canary_id: str) -> Row | None:
    stmt = select(canaries).where(canaries.c.org_id == org_id, canaries.c.canary_id == canary_id)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def running_on_surface(
    conn: Connection, *, org_id: str, namespace: str, surface: str
) -> Row | None:
    stmt = select(canaries).where(
        canaries.c.org_id == org_id,
        canaries.c.namespace == namespace,
        canaries.c.surface == surface,
        canaries.c.status == RUNNING,
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def insert_canary(conn: Connection, *, org_id: str, row: Row) -> None:
    """Store a new canary; the caller checked the surface is free under the namespace lock."""
    conn.execute(canaries.insert().values(**row, org_id=org_id))


def lock_for_start(conn: Connection, *, org_id: str, namespace: str) -> None:
    lock_namespace(conn, org_id=org_id, namespace=namespace)


def count_decision(conn: Connection, *, org_id: str, canary_id: str) -> int | None:
    """Add one treatment decision to a running canary; its new count (None: not running)."""
    stmt = (
        update(canaries)
        .where(
            canaries.c.org_id == org_id,
            canaries.c.canary_id == canary_id,
            canaries.c.status == RUNNING,
        )
        .values(decisions=canaries.c.decisions + 1)
        .returning(canaries.c.decisions)
    )
    value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else int(value)


def finish(
    conn: Connection,
    *,
    org_id: str,
    canary_id: str,
    status: str,
    reason: str,
    p_better: float | None,
    now_us: int,
    promoted_version: int | None = None,
) -> bool:
    """End a running canary; False when it had already ended (another worker got there)."""
    result = conn.execute(
        update(canaries)
        .where(
            canaries.c.org_id == org_id,
            canaries.c.canary_id == canary_id,
            canaries.c.status == RUNNING,
        )
        .values(
            status=status,
            reason=reason,
            p_better=p_better,
            ended_at_us=now_us,
            promoted_version=promoted_version,
        )
    )
    return result.rowcount == 1


def note_look(conn: Connection, *, org_id: str, canary_id: str, p_better: float) -> None:
    conn.execute(
        update(canaries)
        .where(canaries.c.org_id == org_id, canaries.c.canary_id == canary_id)
        .values(p_better=p_better)
    )


def add_step(
    conn: Connection,
    *,
    org_id: str,
    canary_id: str,
    kind: str,
    at_us: int,
    evidence: Mapping[str, Any],
    verdict: str | None = None,
    p_better: float | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        canary_steps.insert().values(
            org_id=org_id,
            canary_id=canary_id,
            kind=kind,
            at_us=at_us,
            evidence=dict(evidence),
            verdict=verdict,
            p_better=p_better,
            reason=reason,
        )
    )


def list_steps(conn: Connection, *, org_id: str, canary_id: str) -> list[Row]:
    stmt = (
        select(canary_steps)
        .where(canary_steps.c.org_id == org_id, canary_steps.c.canary_id == canary_id)
        .order_by(canary_steps.c.step_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def served_lists(
    conn: Connection, *, org_id: str, namespace: str, surface: str, policy_id: str, limit: int
) -> list[list[str]]:
    """The item lists of an arm's first `limit` treatment decisions (the live guardrails)."""
    t = bandit_decisions
    stmt = (
        select(t.c["items"])
        .where(
            t.c.org_id == org_id,
            t.c.namespace == namespace,
            t.c.surface == surface,
            t.c.policy_id == policy_id,
            t.c.traffic_group == "treatment",
        )
        .order_by(t.c.created_at_us, t.c.decision_id)
        .limit(limit)
    )
    return [list(items or []) for (items,) in conn.execute(stmt)]


__all__ = [
    "RUNNING",
    "add_step",
    "count_decision",
    "finish",
    "get_canary",
    "insert_canary",
    "list_canaries",
    "list_steps",
    "lock_for_start",
    "note_look",
    "running_canaries",
    "running_on_surface",
    "served_lists",
]

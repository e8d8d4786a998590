"""Control-plane data access: config versions, event types, segments, segment profiles, rules,
manual overrides, decision audit. Keyword-only, org-scoped, never commits; every policy write
takes the namespace lock and advances `namespaces.policy_version` so serving processes reload."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from recsys.store.repositories import Row, bump_versions, dialect_insert, lock_namespace
from recsys.store.schema import (
    configs,
    decisions,
    event_types,
    manual_overrides,
    rules,
    segment_profiles,
    segments,
)


def _policy_changed(conn: Connection, org_id: str, namespace: str) -> None:
    bump_versions(conn, org_id, namespace, "policy_version")


# --- config -------------------------------------------------------------------------------------


def current_config(conn: Connection, *, org_id: str, namespace: str) -> Row | None:
    return config_in_force(conn, org_id=org_id, namespace=namespace, at_us=None)


def config_in_force(
    conn: Connection, *, org_id: str, namespace: str, at_us: int | None
) -> Row | None:
    """The version that was current at `at_us` (None: now): the newest one stored at or before
    it (None: the namespace had no config yet, so every knob had its default)."""
    stmt = select(configs).where(configs.c.org_id == org_id, configs.c.namespace == namespace)
    if at_us is not None:
        stmt = stmt.where(configs.c.created_at_us <= at_us)
    row = conn.execute(stmt.order_by(configs.c.version.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def config_version(conn: Connection, *, org_id: str, namespace: str, version: int) -> Row | None:
    stmt = select(configs).where(
        configs.c.org_id == org_id, configs.c.namespace == namespace, configs.c.version == version
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def config_history(conn: Connection, *, org_id: str, namespace: str, limit: int = 100) -> list[Row]:
    stmt = (
        select(configs)
        .where(configs.c.org_id == org_id, configs.c.namespace == namespace)
        .order_by(configs.c.version.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def insert_config(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    config: Mapping[str, Any],
    author: str | None,
    notes: str | None,
    now_us: int,
    rollback_of: int | None = None,
) -> int:
    """Store a new version (previous + 1) and return its number."""
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    latest = conn.execute(
        select(func.max(configs.c.version)).where(
            configs.c.org_id == org_id, configs.c.namespace == namespace
        )
    ).scalar_one_or_none()
    version = int(latest or 0) + 1
    conn.execute(
        configs.insert().values(
            org_id=org_id,
            namespace=namespace,
            version=version,
            config=dict(config),
            author=author,
            notes=notes,
            created_at_us=now_us,
            rollback_of=rollback_of,
        )
    )
    _policy_changed(conn, org_id, namespace)
    return version


# --- event types ------------------------------------------------------------------------------


def list_event_types(conn: Connection, *, org_id: str, namespace: str) -> list[Row]:
    stmt = (
        select(event_types)
        .where(event_types.c.org_id == org_id, event_types.c.namespace == namespace)
        .order_by(event_types.c.type)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def upsert_event_types(
    conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]
) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    values = [{**r, "org_id": org_id, "namespace": namespace} for r in rows]
    stmt = dialect_insert(conn, event_types)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace", "type"],
            set_={
                c: stmt.excluded[c]
                for c in ("name", "weight", "halflife_days", "active", "updated_at_us")
            },
        ),
        values,
    )
    _policy_changed(conn, org_id, namespace)
    return len(values)


# --- segments and profiles --------------------------------------------------------------------


def list_segments(conn: Connection, *, org_id: str, namespace: str) -> list[Row]:
    stmt = (
        select(segments)
        .where(segments.c.org_id == org_id, segments.c.namespace == namespace)
        .order_by(segments.c.priority.desc(), segments.c.segment_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def upsert_segment(conn: Connection, *, org_id: str, namespace: str, row: Row) -> None:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    stmt = dialect_insert(conn, segments).values(**row, org_id=org_id, namespace=namespace)
    fields = ("name", "priority", "active", "profile_id", "rules", "updated_at_us")
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace", "segment_id"],
            set_={c: stmt.excluded[c] for c in fields},
        )
    )
    _policy_changed(conn, org_id, namespace)


def delete_segments(
    conn: Connection, *, org_id: str, namespace: str, segment_ids: Sequence[str]
) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    result = conn.execute(
        delete(segments).where(
            segments.c.org_id == org_id,
            segments.c.namespace == namespace,
            segments.c.segment_id.in_(segment_ids),
        )
    )
    _policy_changed(conn, org_id, namespace)
    return int(result.rowcount)


def list_profiles(conn: Connection, *, org_id: str, namespace: str) -> list[Row]:
    stmt = (
        select(segment_profiles)
        .where(segment_profiles.c.org_id == org_id, segment_profiles.c.namespace == namespace)
        .order_by(segment_profiles.c.profile_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def upsert_profiles(conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    values = [{**r, "org_id": org_id, "namespace": namespace} for r in rows]
    stmt = dialect_insert(conn, segment_profiles)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace", "profile_id"],
            set_={"knobs": stmt.excluded.knobs, "updated_at_us": stmt.excluded.updated_at_us},
        ),
        values,
    )
    _policy_changed(conn, org_id, namespace)
    return len(values)


def delete_profiles(
    conn: Connection, *, org_id: str, namespace: str, profile_ids: Sequence[str]
) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    result = conn.execute(
        delete(segment_profiles).where(
            segment_profiles.c.org_id == org_id,
            segment_profiles.c.namespace == namespace,
            segment_profiles.c.profile_id.in_(profile_ids),
        )
    )
    _policy_changed(conn, org_id, namespace)
    return int(result.rowcount)


# --- rules ------------------------------------------------------------------------------------


def list_rules(
    conn: Connection,
    *,
    org_id: str,
    namespace: str | None = None,
    surface: str | None = None,
    action: str | None = None,
    enabled: bool | None = None,
) -> list[Row]:
    conditions = [rules.c.org_id == org_id]
    if namespace is not None:
        conditions.append(rules.c.namespace == namespace)
    if surface is not None:
        conditions.append(rules.c.surface == surface)
    if action is not None:
        conditions.append(rules.c.action == action)
    if enabled is not None:
        conditions.append(rules.c.enabled == enabled)
    stmt = (
        select(rules)
        .where(and_(*conditions))
        .order_by(rules.c.namespace, rules.c.priority.desc(), rules.c.rule_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def get_rule(conn: Connection, *, org_id: str, rule_id: str) -> Row | None:
    row = (
        conn.execute(select(rules).where(rules.c.org_id == org_id, rules.c.rule_id == rule_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def insert_rule(conn: Connection, *, org_id: str, row: Row) -> None:
    lock_namespace(conn, org_id=org_id, namespace=row["namespace"])
    conn.execute(rules.insert().values(**row, org_id=org_id))
    _policy_changed(conn, org_id, row["namespace"])


def replace_rule(conn: Connection, *, org_id: str, rule_id: str, row: Row) -> bool:
    current = get_rule(conn, org_id=org_id, rule_id=rule_id)
    if current is None:
        return False
    for namespace in {current["namespace"], row["namespace"]}:
        lock_namespace(conn, org_id=org_id, namespace=namespace)
    conn.execute(
        update(rules).where(rules.c.org_id == org_id, rules.c.rule_id == rule_id).values(**row)
    )
    for namespace in {current["namespace"], row["namespace"]}:
        _policy_changed(conn, org_id, namespace)
    return True


def delete_rule(conn: Connection, *, org_id: str, rule_id: str) -> bool:
    current = get_rule(conn, org_id=org_id, rule_id=rule_id)
    if current is None:
        return False
    lock_namespace(conn, org_id=org_id, namespace=current["namespace"])
    conn.execute(delete(rules).where(rules.c.org_id == org_id, rules.c.rule_id == rule_id))
    _policy_changed(conn, org_id, current["namespace"])
    return True


# --- manual overrides -------------------------------------------------------------------------


def insert_override(conn: Connection, *, org_id: str, row: Row) -> None:
    lock_namespace(conn, org_id=org_id, namespace=row["namespace"])
    conn.execute(manual_overrides.insert().values(**row, org_id=org_id))
    _policy_changed(conn, org_id, row["namespace"])


def get_override(conn: Connection, *, org_id: str, override_id: str) -> Row | None:
    row = (
        conn.execute(
            select(manual_overrides).where(
                manual_overrides.c.org_id == org_id, manual_overrides.c.override_id == override_id
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def list_overrides(
    conn: Connection, *, org_id: str, namespace: str | None = None, surface: str | None = None
) -> list[Row]:
    conditions = [manual_overrides.c.org_id == org_id]
    if namespace is not None:
        conditions.append(manual_overrides.c.namespace == namespace)
    if surface is not None:
        conditions.append(manual_overrides.c.surface == surface)
    stmt = (
        select(manual_overrides)
        .where(and_(*conditions))
        .order_by(manual_overrides.c.created_at_us.desc(), manual_overrides.c.override_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def cancel_override(conn: Connection, *, org_id: str, override_id: str, now_us: int) -> Row | None:
    current = get_override(conn, org_id=org_id, override_id=override_id)
    if current is None:
        return None
    lock_namespace(conn, org_id=org_id, namespace=current["namespace"])
    if current["cancelled_at_us"] is None:
        conn.execute(
            update(manual_overrides)
            .where(
                manual_overrides.c.org_id == org_id, manual_overrides.c.override_id == override_id
            )
            .values(cancelled_at_us=now_us)
        )
        conn.execute(
            update(rules)
            .where(rules.c.org_id == org_id, rules.c.rule_id == current["rule_id"])
            .values(enabled=False, updated_at_us=now_us)
        )
        _policy_changed(conn, org_id, current["namespace"])
    return get_override(conn, org_id=org_id, override_id=override_id)


# --- decisions --------------------------------------------------------------------------------


def insert_decisions(conn: Connection, *, rows: Sequence[Row]) -> int:
    """Append audit records (each row carries its org_id). Re-inserting an id is a no-op."""
    if not rows:
        return 0
    stmt = dialect_insert(conn, decisions).on_conflict_do_nothing(
        index_elements=["org_id", "decision_id"]
    )
    conn.execute(stmt, list(rows))
    return len(rows)


def get_decision(conn: Connection, *, org_id: str, decision_id: str) -> Row | None:
    row = (
        conn.execute(
            select(decisions).where(
                decisions.c.org_id == org_id, decisions.c.decision_id == decision_id
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def delete_decisions(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    user_hash: str | None = None,
    until_us: int | None = None,
) -> int:
    """Delete a namespace's audit records (optionally one user's, or those before `until_us`)."""
    conditions = [decisions.c.org_id == org_id, decisions.c.namespace == namespace]
    if user_hash is not None:
        conditions.append(decisions.c.user_hash == user_hash)
    if until_us is not None:
        conditions.append(decisions.c.created_at_us < until_us)
    return int(conn.execute(delete(decisions).where(and_(*conditions))).rowcount or 0)


def purge_decisions(conn: Connection, *, before_us: int) -> int:
    """Retention: delete every org's audit records created before `before_us`."""
    return int(
        conn.execute(delete(decisions).where(decisions.c.created_at_us < before_us)).rowcount or 0
    )


def search_decisions(
    conn: Connection,
    *,
    org_id: str,
    namespace: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    user_hash: str | None = None,
    surface: str | None = None,
    rule_id: str | None = None,
    limit: int = 100,
) -> list[Row]:
    conditions = [decisions.c.org_id == org_id]
    if namespace is not None:
        conditions.append(decisions.c.namespace == namespace)
    if since_us is not None:
        conditions.append(decisions.c.created_at_us >= since_us)
    if until_us is not None:
        conditions.append(decisions.c.created_at_us < until_us)
    if user_hash is not None:
        conditions.append(decisions.c.user_hash == user_hash)
    if surface is not None:
        conditions.append(decisions.c.surface == surface)
    stmt = (
        select(decisions)
        .where(and_(*conditions))
        .order_by(decisions.c.created_at_us.desc(), decisions.c.decision_id)
    )
    if rule_id is None:
        return [dict(r) for r in conn.execute(stmt.limit(limit)).mappings()]
    # JSON containment differs per backend; filter the (already narrowed) rows here.
    out: list[Row] = []
    for row in conn.execute(stmt).mappings():
        if rule_id in (row["rule_ids"] or []):
            out.append(dict(row))
            if len(out) >= limit:
                break
    return out


__all__ = [
    "cancel_override",
    "config_history",
    "config_in_force",
    "config_version",
    "current_config",
    "delete_decisions",
    "delete_profiles",
    "delete_rule",
    "delete_segments",
    "get_decision",
    "get_override",
    "get_rule",
    "insert_config",
    "insert_decisions",
    "insert_override",
    "insert_rule",
    "list_event_types",
    "list_overrides",
    "list_profiles",
    "list_rules",
    "list_segments",
    "load_policy_rows",
    "purge_decisions",
    "replace_rule",
    "search_decisions",
    "upsert_event_types",
    "upsert_profiles",
    "upsert_segment",
]


def load_policy_rows(
    conn: Connection, *, org_id: str, namespace: str, at_us: int | None = None
) -> dict[str, Any]:
    """Everything the policy of a namespace is made of, read in one transaction. With `at_us`,
    the config is the version in force at that instant; the other parts (event types,
    segments, profiles, rules) keep no history and are read as they are now."""
    return {
        "config": config_in_force(conn, org_id=org_id, namespace=namespace, at_us=at_us),
        "event_types": list_event_types(conn, org_id=org_id, namespace=namespace),
        "segments": list_segments(conn, org_id=org_id, namespace=namespace),
        "profiles": list_profiles(conn, org_id=org_id, namespace=namespace),
        "rules": list_rules(conn, org_id=org_id, namespace=namespace),
    }

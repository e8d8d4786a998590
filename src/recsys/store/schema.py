"""Table definitions. Every tenant row carries `org_id` + `namespace`; times are UTC microseconds.

Integer microseconds (not DATETIME) keep SQLite and PostgreSQL identical and let the signal
builders read a million events without parsing a million timestamp strings.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# For nullable JSON columns: Python None is stored as SQL NULL, not the JSON literal `null`,
# so `IS NULL` means "absent" (the plain JSON type writes None as 'null', which is NOT NULL).
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
RowId = BigInteger().with_variant(Integer(), "sqlite")

ORG = 36  # canonical UUID text
NAME = 64
ID = 256

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

namespaces = Table(
    "namespaces",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    # Fixed by the first item that carries an embedding; later items must match it.
    Column("embedding_dim", Integer, nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    # Change counters, bumped by every write in the writer's transaction. Serving processes poll
    # them to refresh their signal snapshots: catalogue and users reload whole, events load
    # incrementally (by id) unless reset_version moved (events were deleted).
    Column("catalog_version", BigInteger, nullable=False, server_default="0"),
    Column("users_version", BigInteger, nullable=False, server_default="0"),
    Column("events_version", BigInteger, nullable=False, server_default="0"),
    Column("reset_version", BigInteger, nullable=False, server_default="0"),
    # Bumped by writes to config, event types, segments, profiles, rules and overrides.
    Column("policy_version", BigInteger, nullable=False, server_default="0"),
)

items = Table(
    "items",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("item_id", String(ID), primary_key=True),
    Column("available", Boolean, nullable=False),
    Column("price", Float, nullable=True),
    Column("brand", String(ID), nullable=True),
    Column("category", String(ID), nullable=True),
    Column("category_path", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("props", Json, nullable=False),
    Column("embedding", NullableJson, nullable=True),
    Column("title", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    # The namespace's catalog_version of the write that last set this row: a serving process
    # reads only the rows newer than those it has (0: written before this column existed).
    Column("catalog_version", BigInteger, nullable=False, server_default="0"),
)

users = Table(
    "users",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("user_id", String(ID), primary_key=True),
    Column("traits", Json, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    # Surrogate key: gives a stable insertion order for pagination and incremental snapshots.
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("org_id", String(ORG), nullable=False),
    Column("namespace", String(NAME), nullable=False),
    # Caller's idempotency key; NULL when not given (NULLs never collide in a unique index).
    Column("event_id", String(ID), nullable=True),
    Column("user_id", String(ID), nullable=False),
    Column("item_id", String(ID), nullable=False),
    Column("type", Integer, nullable=False),
    Column("value", Float, nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("meta", Json, nullable=False),
    UniqueConstraint("org_id", "namespace", "event_id"),
    Index(None, "org_id", "namespace", "id"),
    # No index on user_id (dropped in migration 0004): every ingested event would update a
    # random page of it. Filtering by user scans the namespace's events in id order instead.
    # SQLite would otherwise hand out max(id) + 1 again after the newest events are deleted,
    # putting new events behind a reader's `after_id` cursor; PostgreSQL sequences never reuse.
    sqlite_autoincrement=True,
)

# --- control plane ------------------------------------------------------------------------------

configs = Table(
    "configs",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("version", Integer, primary_key=True),
    # Only the knobs set explicitly for the namespace; everything else follows the defaults.
    Column("config", Json, nullable=False),
    Column("author", String(ID), nullable=True),
    Column("notes", Text, nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("rollback_of", Integer, nullable=True),
)

event_types = Table(
    "event_types",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("type", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("weight", Float, nullable=False),
    Column("halflife_days", Float, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("segment_id", String(ID), primary_key=True),
    Column("name", String(ID), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("profile_id", String(ID), nullable=True),
    Column("rules", Json, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

segment_profiles = Table(
    "segment_profiles",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("profile_id", String(ID), primary_key=True),
    Column("knobs", Json, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

rules = Table(
    "rules",
    metadata,
    Column("rule_id", String(ORG), primary_key=True),
    Column("org_id", String(ORG), nullable=False),
    Column("namespace", String(NAME), nullable=False),
    Column("surface", String(NAME), nullable=False),
    Column("name", String(ID), nullable=False),
    Column("action", String(16), nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("target_key", String(ID), nullable=True),
    Column("item_ids", Json, nullable=False),
    Column("boost_value", Float, nullable=True),
    Column("position", Integer, nullable=True),
    Column("segment_id", String(ID), nullable=True),
    Column("priority", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("valid_from_us", BigInteger, nullable=True),
    Column("valid_until_us", BigInteger, nullable=True),
    Column("source", String(32), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Index(None, "org_id", "namespace"),
)

manual_overrides = Table(
    "manual_overrides",
    metadata,
    Column("override_id", String(ORG), primary_key=True),
    Column("org_id", String(ORG), nullable=False),
    Column("namespace", String(NAME), nullable=False),
    Column("surface", String(NAME), nullable=False),
    Column("item_id", String(ID), nullable=False),
    Column("action", String(16), nullable=False),
    Column("boost_value", Float, nullable=True),
    Column("expires_at_us", BigInteger, nullable=True),
    Column("notes", Text, nullable=True),
    Column("created_by", String(ID), nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("cancelled_at_us", BigInteger, nullable=True),
    Column("rule_id", String(ORG), nullable=False),
    Index(None, "org_id", "namespace"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(ORG), nullable=False),
    Column("org_id", String(ORG), nullable=False),
    Column("namespace", String(NAME), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    # SHA-256 of org + user id: searchable by user without storing who the user is.
    Column("user_hash", String(64), nullable=True),
    Column("surface", String(NAME), nullable=True),
    Column("segment_id", String(ID), nullable=True),
    Column("config_version", Integer, nullable=False),
    Column("rule_ids", Json, nullable=False),
    Column("record", Json, nullable=False),
    Index(None, "org_id", "namespace", "created_at_us"),
    Index(None, "created_at_us"),  # the retention purge
    PrimaryKeyConstraint("org_id", "decision_id"),
)

# Deployment-wide keys (e.g. the page-token key): created on first use, shared by all workers.
service_secrets = Table(
    "service_secrets",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("value", String(128), nullable=False),
)

# --- bandit experiments -------------------------------------------------------------------------

bandit_policies = Table(
    "bandit_policies",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("policy_id", String(NAME), primary_key=True),
    Column("name", String(ID), nullable=False),
    # Active policies are the bandit's arms; the control policy serves the holdout either way.
    Column("active", Boolean, nullable=False),
    Column("control", Boolean, nullable=False),
    # Knob overrides (validated override keys) the policy ranks with.
    Column("config", Json, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

bandit_decisions = Table(
    "bandit_decisions",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("decision_id", String(NAME), primary_key=True),
    Column("surface", String(NAME), nullable=False),
    Column("bucket_key", String(256), nullable=False),
    Column("policy_id", String(NAME), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("explore", Boolean, nullable=False),
    Column("traffic_group", String(16), nullable=False),
    # The experiment's label when the holdout experiment covered the decision.
    Column("experiment_label", String(NAME), nullable=True),
    Column("candidates", Json, nullable=False),
    Column("user_hash", String(64), nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    # NULL until the first reward; later rewards never change it.
    Column("reward", Float, nullable=True),
    Column("rewarded_at_us", BigInteger, nullable=True),
    # The items a bandit recommendation served (NULL for a bare decide): an event on one of them
    # by the same user soon after rewards the decision.
    Column("items", NullableJson, nullable=True),
    Index("ix_bandit_decisions_user_recent", "org_id", "namespace", "user_hash", "created_at_us"),
)

# Running sums per arm: what the algorithms read, updated in the writer's transaction with
# `x = x + :v` so that concurrent decisions and rewards never lose an update.
bandit_stats = Table(
    "bandit_stats",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("namespace", String(NAME), primary_key=True),
    Column("surface", String(NAME), primary_key=True),
    Column("bucket_key", String(256), primary_key=True),
    Column("policy_id", String(NAME), primary_key=True),
    Column("traffic_group", String(16), primary_key=True),
    Column("decisions", BigInteger, nullable=False),
    Column("rewards", BigInteger, nullable=False),
    Column("reward_sum", Float, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

# --- shipping: canaries between the incumbent config and a tuned candidate -------------------

canaries = Table(
    "canaries",
    metadata,
    Column("org_id", String(ORG), primary_key=True),
    Column("canary_id", String(NAME), primary_key=True),
    Column("namespace", String(NAME), nullable=False),
    Column("surface", String(NAME), nullable=False),
    # running, then one of promoted / rolled_back / no_decision / stopped.
    Column("status", String(16), nullable=False),
    # The candidate's knob overrides (request-level knobs, validated like request overrides).
    Column("candidate", Json, nullable=False),
    # The namespace config version in force when the canary started: the control.
    Column("incumbent_version", Integer, nullable=False),
    Column("traffic_share", Float, nullable=False),
    Column("min_decisions", Integer, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("budget_decisions", Integer, nullable=False),
    Column("look_every", Integer, nullable=False),
    Column("min_coverage_ratio", Float, nullable=False),
    # Treatment decisions so far (both arms): every `look_every`-th one triggers a look.
    Column("decisions", BigInteger, nullable=False),
    # Where the candidate came from (tuning run folder, run id, test-window figures, evidence).
    Column("source", Json, nullable=False),
    Column("author", String(ID), nullable=True),
    Column("reason", Text, nullable=True),
    Column("p_better", Float, nullable=True),
    Column("promoted_version", Integer, nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("ended_at_us", BigInteger, nullable=True),
    Index(None, "org_id", "namespace", "status"),
)

# The canary's audit trail: its start, every look with the evidence it saw, and its end.
canary_steps = Table(
    "canary_steps",
    metadata,
    Column("step_id", RowId, primary_key=True, autoincrement=True),
    Column("org_id", String(ORG), nullable=False),
    Column("canary_id", String(NAME), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    # started, look, promoted, rolled_back, no_decision, stopped
    Column("kind", String(16), nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("p_better", Float, nullable=True),
    Column("evidence", Json, nullable=False),
    Column("reason", Text, nullable=True),
    Index(None, "org_id", "canary_id", "step_id"),
    sqlite_autoincrement=True,
)

__all__ = [
    "bandit_decisions",
    "bandit_policies",
    "bandit_stats",
    "canaries",
    "canary_steps",
    "configs",
    "decisions",
    "event_types",
    "events",
    "items",
    "manual_overrides",
    "metadata",
    "namespaces",
    "rules",
    "segment_profiles",
    "segments",
    "service_secrets",
    "users",
]

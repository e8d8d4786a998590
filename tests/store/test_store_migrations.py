"""Migrations: idempotent, reversible, and indistinguishable from `schema.metadata`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, bindparam, inspect, text

from recsys.store import Store
from recsys.store import repositories as repo
from recsys.store.migrate import alembic_config
from recsys.store.schema import metadata

from .helpers import all_items, item_row

APP_TABLES = {"namespaces", "items", "users", "events"}


def head_revision(store: Store) -> str:
    head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()
    assert head is not None
    return head


def schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def describe(conn: Connection) -> dict[str, Any]:
    """Everything the database says about the application tables, in comparable form.

    Covers what autogenerate ignores: constraint names, server defaults (sequences),
    autoincrement, and on SQLite the exact CREATE statements (AUTOINCREMENT lives only there).
    """
    insp = inspect(conn)
    tables: dict[str, Any] = {}
    for table in sorted(APP_TABLES):
        tables[table] = {
            "columns": [
                (
                    c["name"],
                    str(c["type"]),
                    c["nullable"],
                    c.get("default"),
                    c.get("autoincrement"),
                )
                for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
            ),
        }
    if conn.dialect.name == "sqlite":
        tables["sqlite_master"] = sorted(
            (row.type, row.name, " ".join((row.sql or "").split()))
            for row in conn.execute(
                text(
                    "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN :names"
                ).bindparams(bindparam("names", expanding=True)),
                {"names": sorted(APP_TABLES)},
            )
        )
    return tables


def test_migrate_twice_is_a_no_op_and_keeps_data(database_url: str, org: str) -> None:
    first = Store.from_url(database_url, migrate=True)
    try:
        with first.write() as conn:
            repo.upsert_items(
                conn, org_id=org, namespace="ns", rows=[item_row("a")], replace_created_at=False
            )
        second = Store.from_url(database_url, migrate=True)
        try:
            second.migrate()
            assert [r["item_id"] for r in all_items(second, org, "ns")] == ["a"]
            with second.read() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [v[0] for v in versions] == [head_revision(second)]
        finally:
            second.close()
    finally:
        first.close()


def test_migrated_schema_matches_metadata(store: Store) -> None:
    with store.engine.connect() as conn:
        assert schema_diff(conn) == []


def test_migration_builds_exactly_what_metadata_would(new_database: Callable[[], str]) -> None:
    migrated = Store.from_url(new_database(), migrate=True)
    created = Store.from_url(new_database(), migrate=False)
    try:
        metadata.create_all(created.engine)
        with migrated.engine.connect() as a, created.engine.connect() as b:
            assert schema_diff(a) == []
            assert describe(a) == describe(b)
    finally:
        migrated.close()
        created.close()


def test_downgrade_to_base_then_upgrade_again(new_database: Callable[[], str]) -> None:
    store = Store.from_url(new_database(), migrate=True)
    try:
        config = alembic_config(store.engine)
        command.downgrade(config, "base")
        with store.engine.connect() as conn:
            assert APP_TABLES.isdisjoint(inspect(conn).get_table_names())
        store.migrate()
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= APP_TABLES
            assert schema_diff(conn) == []
    finally:
        store.close()

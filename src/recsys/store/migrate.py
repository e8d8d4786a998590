"""Alembic migrations, applied programmatically (on start, or by `recsys migrate`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

log = logging.getLogger("recsys.store")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to `revision` (idempotent)."""
    before = _current(engine)
    started = time.perf_counter()
    command.upgrade(alembic_config(engine), revision)
    after = _current(engine)
    if after != before:
        took = time.perf_counter() - started
        log.info("database migrated from %s to %s in %.2f s", before or "empty", after, took)
    else:
        log.info("database schema current (%s)", after)


def _current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


__all__ = ["upgrade"]

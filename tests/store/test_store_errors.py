"""Which store errors mean "retry" (503) and which are bugs (500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc

from recsys.store.errors import store_unavailable


def test_an_exhausted_pool_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'x.db'}", pool_size=1, max_overflow=0, pool_timeout=0.05
    )
    with engine.connect(), pytest.raises(sa_exc.TimeoutError) as caught:
        engine.connect()
    assert store_unavailable(caught.value)
    engine.dispose()


def test_a_malformed_statement_is_a_bug_not_an_outage(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn, pytest.raises(sa_exc.OperationalError) as caught:
        conn.execute(text("SELEC 1"))
    assert not store_unavailable(caught.value)
    engine.dispose()


def test_a_locked_sqlite_file_and_a_wrapped_error_are_unavailable() -> None:
    locked = sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert store_unavailable(locked)
    try:
        try:
            raise locked
        except sa_exc.OperationalError as exc:
            raise RuntimeError("refresh failed") from exc
    except RuntimeError as wrapped:
        assert store_unavailable(wrapped)
    assert not store_unavailable(ValueError("no"))

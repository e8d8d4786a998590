"""Persistence: the only package that imports SQLAlchemy."""

from recsys.store.store import Store

__all__ = ["Store"]

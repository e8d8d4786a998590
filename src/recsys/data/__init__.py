"""Columnar views of a namespace's data: the catalogue and the interaction log."""

from recsys.data.catalog import Catalog, build_catalog
from recsys.data.interactions import InteractionLog, UserTable, build_interaction_log

__all__ = ["Catalog", "InteractionLog", "UserTable", "build_catalog", "build_interaction_log"]

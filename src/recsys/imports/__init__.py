"""Bulk import: CSV or JSONL files of items, users and events, checked with the API's own models
and sent in API-sized batches (`recsys import`; docs/importing.md)."""

from recsys.imports.errors import ImportFormatError
from recsys.imports.formats import read_events, read_items, read_users

__all__ = ["ImportFormatError", "read_events", "read_items", "read_users"]

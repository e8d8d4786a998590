"""Import files read straight into an offline `NamespaceData`, with no server: what a benchmark
needs to evaluate on a dataset kept in the import format. Rows are validated with the API's
own models, then turned into the dataset by `offline.dataset.DatasetBuilder`, the same rules as
for records fetched from a server (a repeated id: first position, last row's fields; repeated
event ids skipped; `ts` required; an item without `created_at` dated by its first event)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from recsys.clock import to_micros
from recsys.imports.errors import ImportFormatError
from recsys.imports.formats import Kind, validated
from recsys.offline.dataset import DatasetBuilder, MissingTime, NamespaceData
from recsys.service.schemas.common import StrictModel
from recsys.service.schemas.ingest import EventIn, ItemIn, UserIn

M = TypeVar("M", bound=StrictModel)


def _records(path: Path, kind: Kind, model: type[M]) -> Iterator[tuple[int, M]]:
    for line, record in validated(path, kind):
        if isinstance(record, ImportFormatError):
            raise record
        if isinstance(record, model):  # always: `validated` builds the kind's own model
            yield line, record


def load_namespace_data(*, items: Path | None, users: Path | None, events: Path) -> NamespaceData:
    """Build the offline dataset from import files (CSV or JSONL, optionally gzipped). Raises
    ImportFormatError at the first bad row."""
    builder = DatasetBuilder()
    for line, event in _records(Path(events), "events", EventIn):
        try:
            builder.event(
                user_id=event.user_id,
                item_id=event.item_id,
                type=event.type,
                value=event.value,
                ts_us=to_micros(event.ts) if event.ts is not None else None,
                event_id=event.event_id,
            )
        except MissingTime as exc:
            raise ImportFormatError(Path(events), line, "ts", str(exc)) from None
    if items is not None:
        for _, item in _records(Path(items), "items", ItemIn):
            # The fields the file gives (absent ones take the builder's defaults, as for an
            # in-memory record with the same fields).
            row = item.model_dump(exclude_unset=True)
            created_at = row.pop("created_at", None)
            builder.item(row, created_at_us=to_micros(created_at) if created_at else None)
    if users is not None:
        for _, user in _records(Path(users), "users", UserIn):
            builder.user(user.user_id, user.traits)
    return builder.build()


__all__ = ["load_namespace_data"]

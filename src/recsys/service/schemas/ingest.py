"""Ingestion bodies: items, users and events in, their listings and deletions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
)

from recsys.service.schemas.common import (
    MAX_EMBEDDING_COMPONENT,
    MAX_EMBEDDING_DIM,
    MAX_EVENT_VALUE,
    MAX_EVENTS_PER_BATCH,
    MAX_IDS_PER_DELETE,
    MAX_ITEMS_PER_BATCH,
    MAX_TAGS_PER_ITEM,
    MAX_USERS_PER_BATCH,
    STORABLE_TEXT_PATTERN,
    EventType,
    Identifier,
    JsonObject,
    Moment,
    NamespaceName,
    ShortText,
    StrictModel,
    Tag,
)

# --- ingestion bodies -------------------------------------------------------------------------


class ItemIn(StrictModel):
    item_id: Identifier
    available: bool = True
    price: float | None = Field(default=None, ge=0)
    brand: ShortText | None = None
    category: ShortText | None = None
    category_path: list[ShortText] = Field(default_factory=list, max_length=16)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS_PER_ITEM)
    props: JsonObject = Field(default_factory=dict)
    embedding: (
        list[Annotated[float, Field(ge=-MAX_EMBEDDING_COMPONENT, le=MAX_EMBEDDING_COMPONENT)]]
        | None
    ) = Field(default=None, min_length=1, max_length=MAX_EMBEDDING_DIM)
    title: (
        Annotated[str, StringConstraints(max_length=1000, pattern=STORABLE_TEXT_PATTERN)] | None
    ) = None
    description: (
        Annotated[str, StringConstraints(max_length=20000, pattern=STORABLE_TEXT_PATTERN)] | None
    ) = None
    created_at: Moment | None = Field(
        default=None, description="RFC3339; defaults to the first upsert's time."
    )


class ItemsUpsert(StrictModel):
    namespace: NamespaceName
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_ITEMS_PER_BATCH)


class UserIn(StrictModel):
    user_id: Identifier
    traits: JsonObject = Field(
        default_factory=dict, description="Free-form traits, e.g. segment, locale."
    )


class UsersUpsert(StrictModel):
    namespace: NamespaceName
    users: list[UserIn] = Field(min_length=1, max_length=MAX_USERS_PER_BATCH)


class EventIn(StrictModel):
    event_id: Identifier | None = Field(
        default=None, description="Idempotency key: an event_id already stored is not re-added."
    )
    user_id: Identifier
    item_id: Identifier
    type: EventType
    value: float = Field(
        default=1.0, ge=0, le=MAX_EVENT_VALUE, description="Strength; multiplies the type weight."
    )
    ts: Moment | None = Field(default=None, description="RFC3339; defaults to now.")
    meta: JsonObject = Field(default_factory=dict, description="surface, session_id, ...")


class EventsBatch(StrictModel):
    namespace: NamespaceName
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class ItemsDelete(StrictModel):
    namespace: NamespaceName
    item_ids: list[Identifier] | None = Field(
        default=None, max_length=MAX_IDS_PER_DELETE, description="None deletes every item."
    )


class UsersDelete(StrictModel):
    namespace: NamespaceName
    user_ids: list[Identifier] | None = Field(
        default=None, max_length=MAX_IDS_PER_DELETE, description="None deletes every user."
    )


class EventsDelete(StrictModel):
    """No filter at all deletes every event of the namespace; filters combine with AND."""

    namespace: NamespaceName
    event_ids: list[Identifier] | None = Field(default=None, max_length=MAX_IDS_PER_DELETE)
    user_id: Identifier | None = None
    item_id: Identifier | None = None
    types: list[EventType] | None = Field(default=None, max_length=5)
    since: Moment | None = Field(default=None, description="ts >= since")
    until: Moment | None = Field(default=None, description="ts < until")


# --- responses --------------------------------------------------------------------------------


class UpsertResult(BaseModel):
    namespace: str
    upserted: int


class EventsResult(BaseModel):
    namespace: str
    accepted: int = Field(description="Events in the request.")
    inserted: int = Field(description="Events newly stored.")
    duplicates: int = Field(description="Events skipped because their event_id was stored.")
    rewarded: int = Field(
        default=0, description="Bandit decisions rewarded by these events (meta.decision_id)."
    )


class DeleteResult(BaseModel):
    deleted_count: int


class ItemOut(BaseModel):
    item_id: str
    available: bool
    price: float | None
    brand: str | None
    category: str | None
    category_path: list[str]
    tags: list[str]
    props: dict[str, Any]
    embedding: list[float] | None
    title: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class UserOut(BaseModel):
    user_id: str
    traits: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    event_id: str | None
    user_id: str
    item_id: str
    type: int
    type_name: str
    value: float
    ts: datetime
    meta: dict[str, Any]


class ItemsPage(BaseModel):
    items: list[ItemOut]
    next_page_token: str | None = Field(default=None, description="Absent on the last page.")


class UsersPage(BaseModel):
    users: list[UserOut]
    next_page_token: str | None = Field(default=None, description="Absent on the last page.")


class EventsPage(BaseModel):
    events: list[EventOut]
    next_page_token: str | None = Field(default=None, description="Absent on the last page.")

"""The id tables a refresh reuses: the same tables while nothing they depend on changed, new
ones as soon as a user, an item id or the catalogue is new; the snapshot is the same either way."""

from __future__ import annotations

import numpy as np

from recsys.data.catalog import build_catalog
from recsys.signals.assemble import AssemblyCache, EventLog, IdTables, assemble_snapshot
from recsys.signals.snapshot import SignalParams
from tests.ranking.shop import NOW, shop_events, shop_items


def add(log: EventLog, user_id: str, item_id: str) -> None:
    one = np.ones(1)
    log.append(user_id=[user_id], item_id=[item_id], type=0 * one, value=one, ts_us=NOW + 0 * one)


def test_tables_are_reused_until_an_id_or_a_source_is_new() -> None:
    users, events = shop_events()
    log = EventLog.from_records(events)
    catalog = build_catalog(shop_items())
    tables = IdTables()
    first = tables.of(catalog, users, log).table
    add(log, "u00", "i01")
    assert tables.of(catalog, users, log).table is first  # known user and item
    log.append(
        user_id=["newcomer"], item_id=["i01"], type=np.zeros(1), value=np.ones(1), ts_us=[NOW]
    )
    grown = tables.of(catalog, users, log).table
    assert grown is not first and "newcomer" in grown.index
    assert tables.of(catalog, list(users), log).table is not grown  # another users list
    edited = build_catalog(shop_items()[1:])
    assert tables.of(edited, users, log).item_map[log.items.codes["i00"]] == -1


def test_a_replaced_log_with_as_many_ids_gets_its_own_maps() -> None:
    # After the events are deleted (or an artifact's log is adopted) the log is another one:
    # the same number of ids coded in another order must not reuse the old maps.
    users, _ = shop_events()
    catalog = build_catalog(shop_items())
    tables = IdTables()
    before = EventLog()
    add(before, "u00", "i00")
    add(before, "u01", "i01")
    tables.of(catalog, users, before)
    after = EventLog()
    add(after, "u01", "i01")
    add(after, "u00", "i00")
    item_map = tables.of(catalog, users, after).item_map
    assert item_map[after.items.codes["i00"]] == catalog.index["i00"]
    user_map = tables.of(catalog, users, after).user_map
    assert user_map[after.users.codes["u00"]] == tables.table.index["u00"]


def test_a_snapshot_built_with_the_cache_equals_one_built_without() -> None:
    users, events = shop_events()
    log = EventLog.from_records(events)
    catalog = build_catalog(shop_items())
    cache = AssemblyCache()
    kwargs = {"catalog": catalog, "users": users, "params": SignalParams(), "reference_us": NOW}
    assemble_snapshot(events=log, cache=cache, **kwargs)
    add(log, "u03", "i09")
    cached = assemble_snapshot(events=log, cache=cache, **kwargs)
    fresh = assemble_snapshot(events=log, **kwargs)
    assert cached.users.user_ids == fresh.users.user_ids
    for column in ("user", "item", "ts_us"):
        assert np.array_equal(getattr(cached.log, column), getattr(fresh.log, column))
    assert np.array_equal(cached.popularity(14.0).scores, fresh.popularity(14.0).scores)

"""`context.as_of` (and the offline evaluator's cut) ranks the namespace as it stood then, as far
as the store can tell: the events up to then, the items that existed then, and the config version
in force then."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from recsys.clock import from_micros
from recsys.config.knobs import defaults
from recsys.offline.dataset import NamespaceData
from recsys.offline.evaluate import LocalRanker, iso
from recsys.signals.assemble import EventLog
from tests.conftest import FakeClock
from tests.ranking.shop import NOW, shop_events, shop_items

NS = "shop"
DAY = 86_400_000_000
CREATED = {item["item_id"]: item["created_at_us"] for item in shop_items()}


def recommend(client: TestClient, headers: dict, **body: Any) -> dict:
    r = client.post("/v1/recommendations", json={"namespace": NS, **body}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def ids(response: dict) -> list[str]:
    return [item["item_id"] for item in response["items"]]


def test_items_created_after_the_cut_are_not_candidates(shop: TestClient, headers: dict) -> None:
    # u05 loves category 5, whose items were all created in the last ten days.
    cut = NOW - 10 * DAY
    then = ids(recommend(shop, headers, user_id="u05", k=59, context={"as_of": iso(cut)}))
    assert len(then) > 30
    assert all(CREATED[i] <= cut for i in then), [i for i in then if CREATED[i] > cut]
    now = ids(recommend(shop, headers, user_id="u05", k=59))
    assert any(CREATED[i] > cut for i in now)


def test_as_of_ranks_with_the_config_in_force_then(
    shop: TestClient, headers: dict, clock: FakeClock
) -> None:
    def set_config(at_us: int, config: dict[str, Any]) -> None:
        clock.now = from_micros(at_us)
        body = {"namespace": NS, "config": config, "author": "test"}
        r = shop.post("/v1/admin/recommendation/config", json=body, headers=headers)
        assert r.status_code == 200, r.text

    set_config(NOW - 20 * DAY, {"category_cap": 2})
    set_config(NOW - 5 * DAY, {"category_cap": 0})
    clock.now = from_micros(NOW)

    def per_category(at_us: int) -> tuple[int, int]:
        body = recommend(shop, headers, user_id="u01", k=10, context={"as_of": iso(at_us)})
        counts = Counter(item_id[1] for item_id in ids(body))
        return body["config_version"], max(counts.values())

    assert per_category(NOW - 30 * DAY)[0] == 0  # before any config: the defaults
    version, most = per_category(NOW - 10 * DAY)
    assert version == 1 and most <= 2  # the cap in force ten days ago
    version, most = per_category(NOW - DAY)
    assert version == 2 and most > 2  # lifted since
    r = shop.get(
        "/v1/admin/recommendation/config",
        params={"namespace": NS, "as_of": iso(NOW - 10 * DAY)},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["version"] == 1
    assert r.json()["config"]["category_cap"] == 2
    bad = shop.get(
        "/v1/admin/recommendation/config",
        params={"namespace": NS, "as_of": "2026-11-01T00:00:00"},  # no timezone
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


def test_the_offline_evaluator_cuts_the_catalogue_too() -> None:
    users, events = shop_events()
    log = EventLog.from_records(events)
    data = NamespaceData(items=shop_items(), users=users, events=log)
    cut = NOW - 10 * DAY
    ranker = LocalRanker(data, cut_us=cut, base_knobs=defaults())
    catalog = ranker.snapshot.catalog
    later = np.asarray([CREATED[str(i)] > cut for i in catalog.item_ids])
    assert later.any() and not catalog.available[later].any()
    for user in ("u05", "u50", "newcomer"):
        listed = ranker.rank(user, k=59, overrides={})
        assert listed and all(CREATED[i] <= cut for i in listed)

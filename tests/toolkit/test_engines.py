"""The local engine is exact: it produces the same lists, hence the same metrics, as the server
ranking as of the same instant over HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsys.client import RecsysClient
from recsys.clock import to_micros
from recsys.config.knobs import defaults
from recsys.offline.dataset import temporal_split
from recsys.offline.evaluate import LocalRanker, Reference, evaluate, run_lists
from recsys.offline.http_ranker import HttpRanker
from recsys.testing.server import running_server
from recsys.toolkit.data import fetch_namespace, fetch_policy, seed_namespace

NS = "engines"
ORG = "00000000-0000-0000-0000-00000000e001"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecsysClient]:
    root: Path = tmp_path_factory.mktemp("engines")
    with running_server(f"sqlite:///{root / 'db.sqlite'}", workdir=root) as server:
        client = RecsysClient(server.base_url, ORG)
        now = datetime.now(UTC)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            seed_namespace(client, NS, users=240, events=9000, items=160, seed=11, now=now)
            # A namespace config and a segment profile: the local engine must honour them too.
            client.set_config(NS, {"mmr_lambda": 0.6, "category_cap": 4}, author="test")
            client.post(
                "/v1/segment-profiles:upsert",
                {"namespace": NS, "profiles": [{"profile_id": "p", "profile_boost": 1.2}]},
            )
            client.post(
                "/v1/segments:upsert",
                {
                    "namespace": NS,
                    "segment": {
                        "segment_id": "power",
                        "priority": 1,
                        "profile_id": "p",
                        "rules": [{"rule": {"eq": ["user.traits.segment", "power_users"]}}],
                    },
                },
            )
            client.post(
                "/v1/admin/rules",
                {
                    "namespace": NS,
                    "name": "boost sale",
                    "action": "BOOST",
                    "target_type": "TAG",
                    "target_key": "sale",
                    "boost_value": 0.1,
                },
            )
        finally:
            os.chdir(cwd)
        yield client
        client.close()


@pytest.mark.parametrize(
    "overrides", [{}, {"blend_beta": 0.1, "mmr_lambda": 0.3, "popularity_fanout": 50}]
)
def test_local_engine_reproduces_http_metrics_exactly(api: RecsysClient, overrides: dict) -> None:
    data = fetch_namespace(api, NS)
    split = temporal_split(data, max_users=60, seed=3)
    assert len(split.users) >= 30
    # Both rank as of the cut, so both take the config in force then: the one set above came
    # later (the server stamps it with its clock), so it is version 0 at the cut.
    policy = fetch_policy(api, NS, as_of_us=split.cut_us)
    assert policy.config_version == 0 and fetch_policy(api, NS).config_version == 1
    local = LocalRanker(data, cut_us=split.cut_us, base_knobs=defaults(), policy=policy)
    remote = HttpRanker(api, NS, cut_us=split.cut_us)
    reference = Reference.from_snapshot(local.snapshot)
    segments = data.segments()
    local_result = evaluate(local, split, reference, segments, overrides=overrides)
    http_result = evaluate(remote, split, reference, segments, overrides=overrides)
    assert local_result["_evaluation"].lists == http_result["_evaluation"].lists
    assert local_result["metrics"] == http_result["metrics"]
    assert local_result["baseline"] == http_result["baseline"]
    if not overrides:  # the defaults beat popularity; heavy diversification need not
        assert local_result["metrics"]["ndcg@10"] > local_result["baseline"]["ndcg@10"]
    # Ranked as of now, after the config was set: both engines take version 1 and agree.
    now_us = to_micros(datetime.now(UTC))
    policy_now = fetch_policy(api, NS, as_of_us=now_us)
    assert policy_now.config_version == 1
    local_now = LocalRanker(data, cut_us=now_us, base_knobs=defaults(), policy=policy_now)
    remote_now = HttpRanker(api, NS, cut_us=now_us)
    users = list(split.users)[:20]
    assert run_lists(local_now, users, overrides) == run_lists(remote_now, users, overrides)


def test_held_out_events_never_feed_the_ranking(api: RecsysClient) -> None:
    """Ranking as of the cut ignores everything after it: adding more test-period events
    changes nothing in the as_of lists."""
    data = fetch_namespace(api, NS)
    split = temporal_split(data, max_users=20, seed=5)
    remote = HttpRanker(api, NS, cut_us=split.cut_us)
    before = [remote.rank(u, k=10, overrides={}) for u in split.users]
    user = split.users[0]

    def now_top(k: int) -> list[str]:
        return [i["item_id"] for i in api.recommend(NS, user_id=user, k=k)["items"]]

    bought = now_top(1)[0]  # the user's top item now: buying it takes it off their list
    flood = [
        {"event_id": f"late-{n}", "user_id": user, "item_id": bought, "type": "purchase"}
        for n in range(50)
    ]
    api.push("events", NS, flood)
    # Wait until the purchases are served now...
    deadline = time.monotonic() + 10.0
    while bought in now_top(10):
        assert time.monotonic() < deadline, "the new events were not served within 10 s"
        time.sleep(0.05)
    # ...then the as_of lists must not have moved.
    after = [remote.rank(u, k=10, overrides={}) for u in split.users]
    assert after == before

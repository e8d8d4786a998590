"""The Python SDK (clients/python) against real `recsys serve` processes: typed models in and
out, page iteration, API key and Bearer auth, errors with the server's code, and retries that
honour `Retry-After` on a real 429 and a real 503 (PostgreSQL stopped, started again while the
client waits)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys.testing.postgres import PostgresUnavailable, find_bindir, throwaway_server
from recsys.testing.server import ServerProcess, running_server
from recsys_client import AsyncClient, Client, RecsysError, RetryPolicy
from recsys_client.models import ItemIn, ItemsUpsert, RecommendationsResponse

ROOT = Path(__file__).resolve().parents[2]
ORG = "6b1d1c2e-0000-4000-8000-0000000005d4"
KEY = "sdk-test-key"
NS = "sdk"

pytestmark = pytest.mark.slow


def test_the_generated_code_is_the_committed_documents() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", ROOT / "clients/python/generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    document = json.loads((ROOT / "docs/openapi.json").read_text())
    committed = (ROOT / "clients/python/src/recsys_client/_generated.py").read_text()
    assert generator.generate(document) == committed, (
        "run: .venv/bin/python clients/python/generate.py"
    )


def test_every_v1_operation_is_a_method_of_both_clients() -> None:
    document = json.loads((ROOT / "docs/openapi.json").read_text())
    operations = {
        op["operationId"]
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for op in item.values()
    }
    assert len(operations) == 49
    for name in operations:
        assert callable(getattr(Client, name)) and asyncio.iscoroutinefunction(
            getattr(AsyncClient, name)
        ), name


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("sdk")
    env = {"API_AUTH_ENABLED": "true", "API_AUTH_KEYS": f"{KEY}:*"}
    with running_server(f"sqlite:///{workdir / 'recsys.db'}", workdir=workdir, env=env) as server:
        yield server


def test_sync_client_models_pages_auth_and_errors(auth_server: ServerProcess) -> None:
    with Client(auth_server.base_url, org_id=ORG, api_key=KEY) as api:
        items = [ItemIn(item_id=f"i{n}", tags=["t"]) for n in range(5)]
        result = api.upsert_items(ItemsUpsert(namespace=NS, items=items))
        assert result.upserted == 5
        events = [
            {"event_id": f"e{n}", "user_id": "u1", "item_id": f"i{n % 3}", "type": "view"}
            for n in range(6)
        ]
        assert api.ingest_events({"namespace": NS, "events": events}).inserted == 6
        listed = [item.item_id for item in api.iter_items(namespace=NS, limit=2)]
        assert listed == [f"i{n}" for n in range(5)]  # three pages of at most two
        assert len(list(api.iter_events(namespace=NS, limit=4))) == 6
        ranked = api.recommendations({"namespace": NS, "user_id": "u2", "k": 3})
        assert isinstance(ranked, RecommendationsResponse)
        assert len(ranked.items) == 3 and all(item.item_id.startswith("i") for item in ranked.items)
        with pytest.raises(RecsysError) as caught:
            api.recommendations({"namespace": NS, "k": 0})
        assert caught.value.status == 422 and caught.value.code == "validation_error"
        assert caught.value.request_id
    with Client(auth_server.base_url, org_id=ORG, bearer_token=KEY) as api:
        assert [i.item_id for i in api.list_items(namespace=NS, limit=1).items] == ["i0"]
    with Client(auth_server.base_url, org_id=ORG) as api, pytest.raises(RecsysError) as caught:
        api.list_items(namespace=NS)
    assert (caught.value.status, caught.value.code) == (401, "missing_api_key")


def test_async_client(auth_server: ServerProcess) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with AsyncClient(auth_server.base_url, org_id=ORG, api_key=KEY) as api:
            await api.upsert_items(
                {"namespace": "sdk-async", "items": [{"item_id": "a"}, {"item_id": "b"}]}
            )
            listed = [item.item_id async for item in api.iter_items(namespace="sdk-async", limit=1)]
            ranked = await api.recommendations({"namespace": "sdk-async", "k": 2})
            return listed, len(ranked.items)

    assert asyncio.run(scenario()) == (["a", "b"], 2)


def test_a_real_429_is_retried_after_retry_after(tmp_path: Path) -> None:
    env = {"API_RATE_LIMIT_RPM": "60", "API_RATE_LIMIT_BURST": "1"}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)  # the server's bucket refills in real time

    with running_server(f"sqlite:///{tmp_path / 'r.db'}", workdir=tmp_path, env=env) as server:
        with Client(server.base_url, org_id=ORG, sleep=sleep) as api:
            api.list_items(namespace=NS)
            assert api.list_items(namespace=NS).items == []  # 429 first, then answered
        assert waits == [1.0]

        async_waits: list[float] = []

        async def async_sleep(seconds: float) -> None:
            async_waits.append(seconds)
            await asyncio.sleep(seconds)

        async def twice() -> None:
            async with AsyncClient(server.base_url, org_id=ORG, sleep=async_sleep) as api:
                await api.list_items(namespace=NS)
                await api.list_items(namespace=NS)

        asyncio.run(twice())
        assert async_waits and all(w == 1.0 for w in async_waits)
        # without retries the 429 reaches the caller, with its Retry-After
        no_retries = Client(server.base_url, org_id=ORG, retry=RetryPolicy(attempts=1))
        with no_retries as api, pytest.raises(RecsysError) as caught:
            for _ in range(3):
                api.list_items(namespace=NS)
        assert caught.value.status == 429 and caught.value.retry_after == "1"


@pytest.mark.postgres
def test_a_real_503_is_retried_until_the_database_is_back(tmp_path: Path) -> None:
    try:
        find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    with throwaway_server() as pg, running_server(pg.url, workdir=tmp_path) as server:
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            # the client waits after the server's 503: bring the database back meanwhile
            if not waits:
                pg.start()
            waits.append(seconds)
            time.sleep(seconds)

        with Client(server.base_url, org_id=ORG, sleep=sleep) as api:
            api.upsert_items({"namespace": NS, "items": [{"item_id": "before"}]})
            pg.stop()
            api.upsert_items({"namespace": NS, "items": [{"item_id": "after"}]})
            assert [i.item_id for i in api.iter_items(namespace=NS)] == ["after", "before"]
        assert waits[0] == 1.0

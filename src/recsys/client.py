"""The toolkit's view of the RecSys API: the SDK's client (`recsys_client`, clients/python) for
every call — retries on 429/503, auth, errors as `RecsysError` — plus what the playbook needs on
top: listings followed to the end, pushes split into the API's batch limits, rankings asked
again until the signals are complete."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from recsys_client import Client, RecsysError

ITEMS_PER_BATCH = 1000
USERS_PER_BATCH = 1000
EVENTS_PER_BATCH = 5000

# A server answers a namespace's first requests after a start from partial signals while it
# builds the rest, with a warning starting with this. Figures computed from such lists would
# be wrong, so ranking calls ask again until the signals are complete.
SIGNALS_BUILDING = "signals still building"
SIGNALS_POLL_S = 0.2

ApiCallError = RecsysError  # the name the toolkit has always caught


class RecsysClient:
    def __init__(
        self,
        base_url: str,
        org_id: str,
        *,
        insecure: bool = False,
        timeout: float = 60.0,
        api_key: str | None = None,
        sleep_ms: int = 0,
        signals_wait_s: float = 600.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.org_id = org_id
        self.sleep_s = sleep_ms / 1000.0
        self.signals_wait_s = signals_wait_s
        self.api = Client(
            self.base_url,
            org_id=org_id,
            api_key=api_key,
            timeout=timeout,
            verify=not insecure,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> RecsysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- raw calls ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        throttle: bool = False,
    ) -> Any:
        if throttle and self.sleep_s > 0:
            time.sleep(self.sleep_s)
        return self.api.request(method, path, params=params, json=json)

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, json=body)

    # --- data ---------------------------------------------------------------------------------

    def pages(self, kind: str, namespace: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every row of GET /v1/{kind}, following next_page_token."""
        token = None
        while True:
            body = self.get(
                f"/v1/{kind}", namespace=namespace, limit=1000, page_token=token, **filters
            )
            yield from body[kind]
            token = body.get("next_page_token")
            if not token:
                return

    def push(self, kind: str, namespace: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        """Upsert items/users or append events, in API-sized batches; returns summed counts."""
        path, key, size = {
            "items": ("/v1/items:upsert", "items", ITEMS_PER_BATCH),
            "users": ("/v1/users:upsert", "users", USERS_PER_BATCH),
            "events": ("/v1/events:batch", "events", EVENTS_PER_BATCH),
        }[kind]
        totals: dict[str, int] = {}
        for start in range(0, len(rows), size):
            body = self.post(path, {"namespace": namespace, key: list(rows[start : start + size])})
            for name, value in body.items():
                if isinstance(value, int):
                    totals[name] = totals.get(name, 0) + value
        return totals

    def delete_all(self, namespace: str) -> dict[str, int]:
        return {
            kind: int(self.post(f"/v1/{kind}:delete", {"namespace": namespace})["deleted_count"])
            for kind in ("events", "users", "items")
        }

    # --- ranking ------------------------------------------------------------------------------

    def recommend(self, namespace: str, **body: Any) -> dict[str, Any]:
        return self.ranked("/v1/recommendations", {"namespace": namespace, **body})

    def ranked(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a ranking request and return the answer ranked with complete signals: while the
        server warns that they are still being built, ask again (up to `signals_wait_s`)."""
        deadline = time.monotonic() + self.signals_wait_s
        while True:
            result: dict[str, Any] = self.call("POST", path, json=body, throttle=True)
            warnings = result.get("warnings") or ()
            if not any(str(w).startswith(SIGNALS_BUILDING) for w in warnings):
                return result
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{path}: signals of namespace {body.get('namespace')!r} still building "
                    f"after {self.signals_wait_s:.0f} s"
                )
            time.sleep(SIGNALS_POLL_S)

    # --- control plane ------------------------------------------------------------------------

    def config(self, namespace: str, *, as_of: str | None = None) -> dict[str, Any]:
        """The namespace's config now, or the version in force at `as_of` (RFC 3339)."""
        result: dict[str, Any] = self.get(
            "/v1/admin/recommendation/config", namespace=namespace, as_of=as_of
        )
        return result

    def set_config(
        self, namespace: str, config: Mapping[str, Any], *, author: str, notes: str = ""
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.post(
            "/v1/admin/recommendation/config",
            {"namespace": namespace, "config": dict(config), "author": author, "notes": notes},
        )
        return result

    def list_all(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(path, **params)[key])


__all__ = ["ApiCallError", "RecsysClient"]

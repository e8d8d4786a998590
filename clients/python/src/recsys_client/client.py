"""`Client` and `AsyncClient`: every operation of the RecSys API as a typed method (generated
from the committed OpenAPI document), retries on 429/503 honouring `Retry-After`, and helpers
that follow page tokens.

    from recsys_client import Client

    with Client("http://127.0.0.1:8000", org_id="…", api_key="…") as api:
        api.upsert_items({"namespace": "shop", "items": [{"item_id": "sku-1"}]})
        for item in api.iter_items(namespace="shop"):
            print(item.item_id)
        print(api.recommendations({"namespace": "shop", "user_id": "u1", "k": 5}).items)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from recsys_client._generated import (
    ApiModel,
    AsyncOperations,
    EventOut,
    ItemOut,
    SyncOperations,
    UserOut,
)
from recsys_client.errors import RecsysError
from recsys_client.retries import RetryPolicy

Row = TypeVar("Row")


def _headers(org_id: str | None, api_key: str | None, bearer_token: str | None) -> dict[str, str]:
    if api_key and bearer_token:
        raise ValueError("pass api_key or bearer_token, not both")
    headers = {"Accept": "application/json"}
    if org_id:
        headers["X-Org-ID"] = str(org_id)
    if api_key:
        headers["X-API-Key"] = api_key
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    return headers


def _payload(body: Any) -> Any:
    if body is None:
        return None
    if isinstance(body, BaseModel):
        # Only what the caller set: the server fills in its own defaults.
        return body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(body, Mapping):
        return {key: _payload(value) for key, value in body.items()}
    if isinstance(body, list | tuple):
        return [_payload(value) for value in body]
    return body


def _url(template: str, path_params: Mapping[str, Any]) -> str:
    return template.format(**{k: quote(str(v), safe="") for k, v in path_params.items()})


def _query(query: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items() if v is not None
    }


def _decode(method: str, path: str, response: httpx.Response, model: type[ApiModel] | None) -> Any:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        raise RecsysError(
            method,
            path,
            response.status_code,
            body,
            retry_after=response.headers.get("retry-after"),
        )
    if model is not None and body is not None:
        return model.model_validate(body)
    return body


def _retry_wait(
    policy: RetryPolicy,
    method: str,
    attempt: int,
    *,
    response: httpx.Response | None = None,
    error: httpx.TransportError | None = None,
) -> float | None:
    """Seconds to wait before trying again after `attempt`, or None: use this outcome."""
    if error is not None:
        return policy.wait_after(attempt, None) if policy.retries_error(method, error) else None
    if response is not None and policy.retries_status(response.status_code):
        return policy.wait_after(attempt, response.headers.get("retry-after"))
    return None


class Client(SyncOperations):
    """Synchronous client. `org_id` goes in `X-Org-ID` on every call; `api_key` (X-API-Key) or
    `bearer_token` (Authorization: Bearer) when the server has auth on. `sleep` is how retries
    wait (pass a fake one in tests)."""

    def __init__(
        self,
        base_url: str,
        *,
        org_id: str | None = None,
        api_key: str | None = None,
        bearer_token: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=_headers(org_id, api_key, bearer_token),
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        model: type[ApiModel] | None = None,
    ) -> Any:
        """One call with retries: the decoded JSON (or `model` built from it)."""
        for attempt in itertools.count(1):
            try:
                response = self._http.request(
                    method, path, params=_query(params or {}), json=_payload(json)
                )
            except httpx.TransportError as error:
                wait = _retry_wait(self.retry, method, attempt, error=error)
                if wait is None:
                    raise
            else:
                wait = _retry_wait(self.retry, method, attempt, response=response)
                if wait is None:
                    return _decode(method, path, response, model)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _operation(
        self,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, Any],
        query: Mapping[str, Any],
        body: Any,
        response: type[ApiModel] | None,
    ) -> Any:
        path = _url(template, path_params)
        return self.request(method, path, params=query, json=body, model=response)

    def paginate(self, operation: Callable[..., Any], field: str, **params: Any) -> Iterator[Any]:
        """Every row of a listing (`list_items`, `list_users`, `list_events`), page after page."""
        token = params.pop("page_token", None)
        while True:
            page = operation(**params, page_token=token)
            yield from getattr(page, field)
            token = page.next_page_token
            if not token:
                return

    def iter_items(self, **params: Any) -> Iterator[ItemOut]:
        return self.paginate(self.list_items, "items", **params)

    def iter_users(self, **params: Any) -> Iterator[UserOut]:
        return self.paginate(self.list_users, "users", **params)

    def iter_events(self, **params: Any) -> Iterator[EventOut]:
        return self.paginate(self.list_events, "events", **params)


class AsyncClient(AsyncOperations):
    """`Client` for asyncio: the same methods, awaited; listings as async iterators."""

    def __init__(
        self,
        base_url: str,
        *,
        org_id: str | None = None,
        api_key: str | None = None,
        bearer_token: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        verify: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=_headers(org_id, api_key, bearer_token),
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        model: type[ApiModel] | None = None,
    ) -> Any:
        """One call with retries: the decoded JSON (or `model` built from it)."""
        for attempt in itertools.count(1):
            try:
                response = await self._http.request(
                    method, path, params=_query(params or {}), json=_payload(json)
                )
            except httpx.TransportError as error:
                wait = _retry_wait(self.retry, method, attempt, error=error)
                if wait is None:
                    raise
            else:
                wait = _retry_wait(self.retry, method, attempt, response=response)
                if wait is None:
                    return _decode(method, path, response, model)
            await self._sleep(wait)
        raise AssertionError("unreachable")

    async def _operation(
        self,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, Any],
        query: Mapping[str, Any],
        body: Any,
        response: type[ApiModel] | None,
    ) -> Any:
        path = _url(template, path_params)
        return await self.request(method, path, params=query, json=body, model=response)

    async def paginate(
        self, operation: Callable[..., Awaitable[Any]], field: str, **params: Any
    ) -> AsyncIterator[Any]:
        token = params.pop("page_token", None)
        while True:
            page = await operation(**params, page_token=token)
            for row in getattr(page, field):
                yield row
            token = page.next_page_token
            if not token:
                return

    def iter_items(self, **params: Any) -> AsyncIterator[ItemOut]:
        return self.paginate(self.list_items, "items", **params)

    def iter_users(self, **params: Any) -> AsyncIterator[UserOut]:
        return self.paginate(self.list_users, "users", **params)

    def iter_events(self, **params: Any) -> AsyncIterator[EventOut]:
        return self.paginate(self.list_events, "events", **params)


__all__ = ["AsyncClient", "Client"]

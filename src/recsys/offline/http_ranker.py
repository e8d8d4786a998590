"""Ranking through a live server: POST /v1/recommendations with `context.as_of` set to the
split instant, so the server ranks from events up to the cut only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recsys.client import RecsysClient
from recsys.offline.evaluate import iso


class HttpRanker:
    def __init__(self, client: RecsysClient, namespace: str, *, cut_us: int) -> None:
        self.client = client
        self.namespace = namespace
        self.as_of = iso(cut_us)
        self.samples: list[dict[str, Any]] = []

    def rank(self, user_id: str, *, k: int, overrides: Mapping[str, Any]) -> list[str]:
        body = {
            "user_id": user_id,
            "k": k,
            "context": {"as_of": self.as_of},
            "overrides": dict(overrides),
        }
        response = self.client.recommend(self.namespace, **body)
        if len(self.samples) < 3:
            self.samples.append(
                {"request": {"namespace": self.namespace, **body}, "response": response}
            )
        return [item["item_id"] for item in response["items"]]


__all__ = ["HttpRanker"]

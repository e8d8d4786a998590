"""Prometheus metrics, one registry per app so that several apps (tests, workers) never collide."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ServiceMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    ingested: Counter

    @classmethod
    def create(cls) -> ServiceMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            requests=Counter(
                "recsys_http_requests_total",
                "HTTP requests by route template, method and status code.",
                ["method", "route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "recsys_http_request_duration_seconds",
                "HTTP request latency by route template and method.",
                ["method", "route"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            ingested=Counter(
                "recsys_ingested_rows_total",
                "Rows written by ingestion endpoints, by kind (items, users, events).",
                ["kind"],
                registry=registry,
            ),
        )


__all__ = ["ServiceMetrics"]

"""Namespace data over HTTP: reset it, seed it with the synthetic shop, read it back for the
local engine (in the server's order, so the local snapshot equals the server's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys.client import EVENTS_PER_BATCH, RecsysClient
from recsys.clock import to_micros
from recsys.offline.dataset import NamespaceData, namespace_data_from_records
from recsys.offline.evaluate import iso
from recsys.offline.synthetic import generate
from recsys.policy.namespace import NamespacePolicy, policy_from_rows
from recsys.toolkit.evidence import ANALYSIS, manifest, new_folder, stamp, write_json

Progress = Callable[[int], None]


def _micros(text: str) -> int:
    return to_micros(datetime.fromisoformat(text.replace("Z", "+00:00")))


def reset_namespace(client: RecsysClient, namespace: str, *, now: datetime) -> dict[str, Any]:
    """Delete the namespace's events, users, items, rules, overrides, segments and profiles.
    Config versions stay: they are the namespace's audit trail (roll back to any of them)."""
    deleted: dict[str, Any] = client.delete_all(namespace)
    rules = client.list_all("/v1/admin/rules", "rules", namespace=namespace)
    for rule in rules:
        client.call("DELETE", f"/v1/admin/rules/{rule['rule_id']}")
    segments = client.list_all("/v1/segments", "segments", namespace=namespace)
    if segments:
        client.post(
            "/v1/segments:delete",
            {"namespace": namespace, "segment_ids": [s["segment_id"] for s in segments]},
        )
    profiles = client.list_all("/v1/segment-profiles", "profiles", namespace=namespace)
    if profiles:
        client.post(
            "/v1/segment-profiles:delete",
            {"namespace": namespace, "profile_ids": [p["profile_id"] for p in profiles]},
        )
    deleted.update(rules=len(rules), segments=len(segments), profiles=len(profiles))
    folder = new_folder(ANALYSIS / "evidence", f"reset_{namespace}_{stamp(now)}")
    write_json(folder / "reset.json", {"namespace": namespace, "deleted": deleted})
    manifest(folder, tool="reset_namespace", now=now, extra={"namespace": namespace})
    return {"deleted": deleted, "evidence": str(folder)}


def seed_namespace(
    client: RecsysClient,
    namespace: str,
    *,
    users: int,
    events: int,
    items: int | None,
    seed: int,
    now: datetime,
    fixture_path: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Push the deterministic synthetic shop (timestamps relative to `now`). Re-running pushes
    the same event ids, so nothing is duplicated."""
    n_items = items if items is not None else max(50, users // 2)
    dataset = generate(n_items=n_items, n_users=users, n_events=events, now=now, seed=seed)
    pushed_items = client.push("items", namespace, dataset.items)
    pushed_users = client.push("users", namespace, dataset.users)
    inserted = duplicates = 0
    for start in range(0, len(dataset.events), EVENTS_PER_BATCH):
        rows = dataset.event_dicts(start, start + EVENTS_PER_BATCH)
        result = client.push("events", namespace, rows)
        inserted += result.get("inserted", 0)
        duplicates += result.get("duplicates", 0)
        if progress:
            progress(len(rows))
    stats = dataset.stats()
    folder = new_folder(ANALYSIS / "evidence", f"seed_{namespace}_{stamp(now)}")
    write_json(folder / "stats.json", stats)
    write_json(folder / "segments.json", dataset.segment_counts())
    summary = {
        "namespace": namespace,
        "items": pushed_items.get("upserted", 0),
        "users": pushed_users.get("upserted", 0),
        "events_inserted": inserted,
        "events_duplicates": duplicates,
        "seed": seed,
        "now": now.isoformat(),
    }
    write_json(folder / "seed.json", summary)
    if fixture_path is not None:
        write_json(
            fixture_path,
            {
                "namespace": namespace,
                "items": dataset.items,
                "users": dataset.users,
                "events": dataset.event_dicts(0, len(dataset.events)),
            },
        )
    manifest(folder, tool="seed_dataset", now=now, extra={"namespace": namespace, "seed": seed})
    return {**summary, "evidence": str(folder), "segments": dataset.segment_counts()}


def fetch_namespace(client: RecsysClient, namespace: str) -> NamespaceData:
    """The namespace as the server holds it: events in ingestion (id) order."""
    return namespace_data_from_records(
        items=client.pages("items", namespace),
        users=client.pages("users", namespace),
        events=client.pages("events", namespace),
    )


def fetch_policy(
    client: RecsysClient, namespace: str, *, as_of_us: int | None = None
) -> NamespacePolicy:
    """The namespace's policy as the server resolves it. `config` holds the *effective* values
    (server environment + namespace config), so a local engine needs no knowledge of the
    server's environment. With `as_of_us`, the config version in force at that instant (the
    rest of the policy keeps no history and is the current one)."""
    config = client.config(namespace, as_of=iso(as_of_us) if as_of_us is not None else None)
    types = client.get("/v1/event-types", namespace=namespace)["types"]
    segments = client.get("/v1/segments", namespace=namespace)["segments"]
    profiles = client.get("/v1/segment-profiles", namespace=namespace)["profiles"]
    rules = client.list_all("/v1/admin/rules", "rules", namespace=namespace)

    def us(text: str | None) -> int | None:
        return _micros(text) if text else None

    return policy_from_rows(
        config={
            "version": config["version"],
            "config": config["config"],
            "created_at_us": us(config["metadata"]["updated_at"]) or 0,
            "author": config["metadata"]["updated_by"],
            "notes": config["metadata"]["notes"],
            "rollback_of": config["metadata"].get("rollback_of"),
        },
        event_types=[t for t in types if t["stored"]],
        segments=segments,
        profiles=[
            {
                "profile_id": p["profile_id"],
                "knobs": {k: v for k, v in p.items() if k != "profile_id"},
            }
            for p in profiles
        ],
        rules=[
            {**r, "valid_from_us": us(r["valid_from"]), "valid_until_us": us(r["valid_until"])}
            for r in rules
        ],
    )


__all__ = ["fetch_namespace", "fetch_policy", "reset_namespace", "seed_namespace"]

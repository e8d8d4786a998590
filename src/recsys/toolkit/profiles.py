"""Env profiles: a namespace's config and segment profiles as an editable JSON file under
analysis/env_profiles/<namespace>/<profile>.json, fetched from and applied to the config API."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys.client import RecsysClient
from recsys.toolkit.evidence import ANALYSIS, write_json

PROFILES = ANALYSIS / "env_profiles"


def profile_path(namespace: str, profile: str) -> Path:
    return PROFILES / namespace / f"{profile}.json"


def fetch_profile(client: RecsysClient, namespace: str, profile: str, *, now: datetime) -> Path:
    config = client.config(namespace)
    profiles = client.get("/v1/segment-profiles", namespace=namespace)["profiles"]
    segments = client.get("/v1/segments", namespace=namespace)["segments"]
    return write_json(
        profile_path(namespace, profile),
        {
            "namespace": namespace,
            "profile": profile,
            "fetched_at": now.isoformat(),
            "config_version": config["version"],
            "config": config["config"],
            "segment_profiles": profiles,
            "segments": segments,
        },
    )


def load_profile(namespace: str, profile: str) -> dict[str, Any]:
    path = profile_path(namespace, profile)
    if not path.exists():
        raise FileNotFoundError(f"no profile {path}; fetch it first")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def apply_profile(
    client: RecsysClient, namespace: str, profile: str, *, author: str = "env_profile_manager"
) -> dict[str, Any]:
    """Post the file's config as a new version, and upsert its segment profiles and segments."""
    data = load_profile(namespace, profile)
    result = client.set_config(
        namespace, data.get("config", {}), author=author, notes=f"env profile {profile}"
    )
    if data.get("segment_profiles"):
        client.post(
            "/v1/segment-profiles:upsert",
            {"namespace": namespace, "profiles": data["segment_profiles"]},
        )
    for segment in data.get("segments", []):
        client.post("/v1/segments:upsert", {"namespace": namespace, "segment": segment})
    return {"namespace": namespace, "profile": profile, "config_version": result["version"]}


def list_profiles(namespace: str) -> list[str]:
    folder = PROFILES / namespace
    return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []


def delete_profile(namespace: str, profile: str) -> bool:
    path = profile_path(namespace, profile)
    if path.exists():
        path.unlink()
        return True
    return False


__all__ = ["apply_profile", "delete_profile", "fetch_profile", "list_profiles", "profile_path"]

"""Same request, same answer: send one recommendation request several times, and again with its
JSON keys in shuffled order, and compare every response with the first (items, scores, ranks,
reasons, explanations, trace, segment, versions, warnings; only `decision_id` is expected to
differ). By default the request pins the clock with `context.as_of` (the run's start), since the
spec promises the same list for the same data, config, request *and* clock; `live` mode leaves
it out and then also catches drift from background signal refreshes."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from recsys.client import RecsysClient
from recsys.toolkit.evidence import fingerprint

VOLATILE = frozenset({"decision_id"})  # new for every request by design
MAX_PATHS = 10


def request_body(
    namespace: str,
    user_id: str | None,
    *,
    k: int,
    surface: str | None,
    as_of: str | None,
    overrides: Mapping[str, Any],
    explain_level: str,
) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if surface:
        context["surface"] = surface
    if as_of:
        context["as_of"] = as_of
    body: dict[str, Any] = {
        "namespace": namespace,
        "k": k,
        "context": context,
        "constraints": {},
        "overrides": dict(overrides),
        "include_reasons": True,
        "explain_level": explain_level,
    }
    if user_id is not None:
        body["user_id"] = user_id
    return body


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with the keys of every object in a random order (lists keep theirs)."""
    if isinstance(value, Mapping):
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def comparable(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k not in VOLATILE}


def differences(a: Any, b: Any, path: str = "$", limit: int = MAX_PATHS) -> list[str]:
    """JSON paths where two values differ (at most `limit`)."""
    out: list[str] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            for key in sorted(set(x) | set(y), key=str):
                if key not in x or key not in y:
                    out.append(f"{where}.{key} (missing on one side)")
                else:
                    walk(x[key], y[key], f"{where}.{key}")
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                out.append(f"{where} (length {len(x)} != {len(y)})")
            for n, (xi, yi) in enumerate(zip(x, y, strict=False)):
                walk(xi, yi, f"{where}[{n}]")
        elif x != y or type(x) is not type(y):
            out.append(f"{where}: {x!r} != {y!r}")

    walk(a, b, path)
    return out


def check_determinism(
    client: RecsysClient,
    namespace: str,
    user_ids: Sequence[str | None],
    *,
    repeats: int,
    k: int,
    surface: str | None,
    as_of: str | None,
    overrides: Mapping[str, Any],
    explain_level: str,
    seed: int,
) -> dict[str, Any]:
    """Per user (None = anonymous): `repeats` identical requests and `repeats` key-shuffled
    ones, each compared with the first response."""
    cases: list[dict[str, Any]] = []
    for user_id in user_ids:
        body = request_body(
            namespace,
            user_id,
            k=k,
            surface=surface,
            as_of=as_of,
            overrides=overrides,
            explain_level=explain_level,
        )
        rng = random.Random(f"{seed}:{user_id}")
        reference: dict[str, Any] | None = None
        mismatches: list[dict[str, Any]] = []
        sent = 0
        for attempt in range(2 * repeats):
            kind = "repeat" if attempt < repeats else "shuffled_keys"
            payload = body if kind == "repeat" else shuffled(body, rng)
            response = comparable(client.ranked("/v1/recommendations", payload))
            sent += 1
            if reference is None:
                reference = response
                continue
            paths = differences(reference, response)
            if paths:
                mismatches.append(
                    {
                        "attempt": attempt + 1,
                        "kind": kind,
                        "request_key_order": list(payload),
                        "paths": paths,
                        "fingerprint": fingerprint(response),
                    }
                )
        assert reference is not None
        cases.append(
            {
                "user_id": user_id,
                "requests": sent,
                "items": [i["item_id"] for i in reference.get("items", [])],
                "fingerprint": fingerprint(reference),
                "identical": not mismatches,
                "mismatches": mismatches,
            }
        )
    failed = [c for c in cases if not c["identical"]]
    return {
        "namespace": namespace,
        "repeats": repeats,
        "k": k,
        "surface": surface,
        "as_of": as_of,
        "overrides": dict(overrides),
        "explain_level": explain_level,
        "ignored_fields": sorted(VOLATILE),
        "cases": cases,
        "requests": sum(c["requests"] for c in cases),
        "users": len(cases),
        "nondeterministic_users": [c["user_id"] for c in failed],
        "passed": not failed,
    }


__all__ = ["check_determinism", "comparable", "differences", "request_body", "shuffled"]

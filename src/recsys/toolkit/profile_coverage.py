"""Profile coverage: for a sample of users, who gets a personalised list and how cold users are
served, overall and per segment (the user's `traits.segment`).

* personalised: the ranking saw at least PROFILE_MIN_EVENTS_FOR_BOOST of the user's events
  (`trace.extras.user.event_count`; threshold from the namespace's effective config), so the
  profile boost applies unattenuated;
* cold: below that threshold; a cold user is *served by a starter profile* when the response's
  `trace.extras.starter_profile` is present;
* distinct categories per list: how varied each list is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recsys.toolkit.sampling import Ranked, share


def _row(ranked: Ranked, catalogue: Mapping[str, Mapping[str, Any]], threshold: int) -> dict:
    extras = ranked.response.get("trace", {}).get("extras", {})
    user = extras.get("user", {})
    events = int(user.get("event_count", 0))
    categories = {
        str((catalogue.get(i) or {}).get("category") or "(none)") for i in ranked.item_ids
    }
    return {
        "user_id": ranked.user_id,
        "segment": ranked.segment,
        "surface": ranked.surface,
        "event_count": events,
        "new_user": bool(user.get("new_user", False)),
        "personalised": events >= threshold,
        "starter_profile": (extras.get("starter_profile") or {}).get("source"),
        "items": len(ranked.item_ids),
        "distinct_categories": len(categories) if ranked.item_ids else 0,
        "segment_id": ranked.response.get("segment_id"),
        "profile_id": ranked.response.get("profile_id"),
    }


def _summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    cold = [r for r in rows if not r["personalised"]]
    starters = [r for r in cold if r["starter_profile"]]
    categories = np.asarray([r["distinct_categories"] for r in rows], dtype=np.float64)
    return {
        "users": len(rows),
        "personalised": sum(1 for r in rows if r["personalised"]),
        "personalised_share": round(share(len(rows) - len(cold), len(rows)), 6),
        "cold": len(cold),
        "cold_with_starter": len(starters),
        "cold_starter_share": round(share(len(starters), len(cold)), 6) if cold else None,
        "new_user_share": round(share(sum(1 for r in rows if r["new_user"]), len(rows)), 6),
        "avg_distinct_categories": round(float(categories.mean()), 4) if len(rows) else None,
        "min_distinct_categories": int(categories.min()) if len(rows) else None,
        "avg_event_count": round(float(np.mean([r["event_count"] for r in rows])), 2)
        if rows
        else None,
        "short_lists": sum(1 for r in rows if r["items"] == 0),
        "starter_sources": {
            s: sum(1 for r in starters if r["starter_profile"] == s)
            for s in sorted({str(r["starter_profile"]) for r in starters})
        },
    }


def coverage_report(
    lists: Sequence[Ranked],
    catalogue: Mapping[str, Mapping[str, Any]],
    *,
    namespace: str,
    threshold: int,
    k: int,
) -> dict[str, Any]:
    rows = [_row(r, catalogue, threshold) for r in lists]
    return {
        "namespace": namespace,
        "k": k,
        "profile_min_events_for_boost": threshold,
        "overall": _summary(rows),
        "per_segment": {
            seg: _summary([r for r in rows if r["segment"] == seg])
            for seg in sorted({r["segment"] for r in rows})
        },
        "users": rows,
    }


def coverage_verdict(
    report: Mapping[str, Any],
    *,
    min_personalised_share: float | None,
    min_starter_share: float | None,
    min_avg_categories: float | None,
) -> list[str]:
    overall = report["overall"]
    problems = []
    if (
        min_personalised_share is not None
        and overall["personalised_share"] < min_personalised_share
    ):
        problems.append(
            f"personalised share {overall['personalised_share']:.4f} < {min_personalised_share:g}"
        )
    starter = overall["cold_starter_share"]
    if min_starter_share is not None and starter is not None and starter < min_starter_share:
        problems.append(f"cold users with a starter profile {starter:.4f} < {min_starter_share:g}")
    categories = overall["avg_distinct_categories"]
    if min_avg_categories is not None and (categories or 0.0) < min_avg_categories:
        problems.append(f"avg distinct categories {categories} < {min_avg_categories:g}")
    return problems


__all__ = ["coverage_report", "coverage_verdict"]

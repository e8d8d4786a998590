"""Exposure: over a sample of users and surfaces, how often each item, brand and category is
shown in the top k; how unequal item exposure is (Gini over the whole catalogue, unexposed items
counting as zero), and which share of the catalogue is shown at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsys.toolkit.sampling import Ranked, share


def gini(values: Iterable[float]) -> float:
    """0 = every item equally exposed; -> 1 = all exposure on one item."""
    x = np.sort(np.asarray(list(values), dtype=np.float64))
    n = len(x)
    total = float(x.sum()) if n else 0.0
    if total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * x).sum()) / (n * total) - (n + 1.0) / n)


def _stats(
    lists: Sequence[Ranked], catalogue: Mapping[str, Mapping[str, Any]], *, top: int
) -> dict[str, Any]:
    items: Counter[str] = Counter()
    brands: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for ranked in lists:
        for item_id in ranked.item_ids:
            items[item_id] += 1
            row = catalogue.get(item_id) or {}
            brands[str(row.get("brand") or "(none)")] += 1
            categories[str(row.get("category") or "(none)")] += 1
    slots = sum(items.values())
    available = [i for i, row in catalogue.items() if row.get("available", True)]
    counts = [items.get(i, 0) for i in sorted(catalogue)]

    def ranked_shares(counter: Counter[str], limit: int | None) -> list[dict[str, Any]]:
        ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        return [
            {"id": key, "count": n, "share": round(share(n, slots), 6)}
            for key, n in ordered[:limit]
        ]

    return {
        "lists": len(lists),
        "slots": slots,
        "distinct_items": len(items),
        "catalogue_items": len(catalogue),
        "catalogue_share_exposed": round(share(len(items), len(catalogue)), 6),
        "available_share_exposed": round(
            share(len(set(items) & set(available)), len(available)), 6
        ),
        "gini_item_exposure": round(gini(counts), 6),
        "gini_exposed_items": round(gini(items.values()), 6),
        "top_items": ranked_shares(items, top),
        "brands": ranked_shares(brands, None),
        "categories": ranked_shares(categories, None),
    }


def exposure_report(
    lists: Sequence[Ranked],
    catalogue: Mapping[str, Mapping[str, Any]],
    *,
    namespace: str,
    k: int,
    top: int = 10,
) -> dict[str, Any]:
    surfaces = sorted({r.surface or "" for r in lists})
    report = {
        "namespace": namespace,
        "k": k,
        "users": len({r.user_id for r in lists}),
        "surfaces": surfaces,
        "overall": _stats(lists, catalogue, top=top),
        "per_surface": {
            s or "(none)": _stats([r for r in lists if (r.surface or "") == s], catalogue, top=top)
            for s in surfaces
        },
        "per_segment": {
            seg: {
                key: value
                for key, value in _stats(
                    [r for r in lists if r.segment == seg], catalogue, top=top
                ).items()
                if key not in ("brands", "categories")
            }
            for seg in sorted({r.segment for r in lists})
        },
        "item_counts": dict(
            sorted(Counter(i for r in lists for i in r.item_ids).items(), key=lambda kv: kv[0])
        ),
    }
    return report


def exposure_verdict(
    report: Mapping[str, Any], *, max_gini: float | None, min_catalogue_share: float | None
) -> list[str]:
    overall = report["overall"]
    problems = []
    if max_gini is not None and overall["gini_item_exposure"] > max_gini:
        problems.append(f"Gini {overall['gini_item_exposure']:.4f} > --max-gini {max_gini:g}")
    if min_catalogue_share is not None and overall["catalogue_share_exposed"] < min_catalogue_share:
        problems.append(
            f"catalogue share exposed {overall['catalogue_share_exposed']:.4f} < "
            f"--min-catalog-share {min_catalogue_share:g}"
        )
    return problems


def exposure_chart(report: Mapping[str, Any], path: Path, *, bars: int = 20) -> Path:
    """Bar charts: the most exposed items, and exposure by category."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = report["overall"]
    counts = sorted(report["item_counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:bars]
    categories = overall["categories"][:bars]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    left.bar(range(len(counts)), [c / max(overall["slots"], 1) for _, c in counts])
    left.set_xticks(range(len(counts)), [i for i, _ in counts], rotation=70, fontsize=7)
    left.set_ylabel("share of top-k slots")
    left.set_title(
        f"top {len(counts)} items (Gini {overall['gini_item_exposure']:.3f}, "
        f"{overall['catalogue_share_exposed']:.0%} of catalogue shown)"
    )
    right.bar(range(len(categories)), [c["share"] for c in categories], color="tab:orange")
    right.set_xticks(range(len(categories)), [c["id"] for c in categories], rotation=70, fontsize=7)
    right.set_title("exposure by category")
    fig.suptitle(f"{report['namespace']}: exposure in top {report['k']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["exposure_chart", "exposure_report", "exposure_verdict", "gini"]

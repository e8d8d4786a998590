"""Simulated users clicking through recommendations, over a few rounds of feedback.

Each sampled user has a preference model built from their own past events (type-weighted
affinity to categories and tags; earlier simulated clicks, ids `sim-...`, are left out). At each
step the user asks for a list and scans it top-down (cascade model): at rank r the user clicks
with probability `propensity * (floor + (1 - floor) * affinity) / log2(r + 1)` and stops at the
first click, so a list gets at most one click. Clicks update the user's model and are pushed back
as click events with idempotent ids `sim-<seed>-<user>-<step>`, so the next step ranks with them.
Randomness comes from `(seed, user, step)` alone: configurations sharing a seed see the same
random draws (common random numbers), which makes their CTRs comparable.

Batch mode runs one simulation per (seed, overrides) pair, one after another on the same
namespace: a later configuration also sees the clicks pushed by earlier ones (use --dry-run for
independent configurations without feedback)."""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recsys.client import RecsysClient
from recsys.toolkit.sampling import (
    ToolInputError,
    category_features,
    fetch_catalogue,
    sample_users,
    segment_of,
    share,
)

CLICK = 1
DEFAULT_TYPE_WEIGHTS = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0, 4: 1.0}
SIM_PREFIX = "sim-"


@dataclass(frozen=True)
class ClickModel:
    propensity: float = 0.3  # click probability at rank 1 for a perfectly matching item
    floor: float = 0.05  # attractiveness of an item the user has no affinity for
    category_weight: float = 0.6  # category vs tag affinity

    def __post_init__(self) -> None:
        if not 0.0 < self.propensity <= 1.0:
            raise ToolInputError("--click-propensity must be in (0, 1]")
        if not 0.0 <= self.floor <= 1.0:
            raise ToolInputError("--click-floor must be in [0, 1]")


@dataclass
class Preferences:
    """A user's affinity to categories and tags: sums of event weights."""

    categories: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    tags: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, item: Mapping[str, Any], weight: float) -> None:
        for name in category_features(item):
            self.categories[name] += weight
        for tag in item.get("tags") or ():
            self.tags[str(tag)] += weight

    def copy(self) -> Preferences:
        clone = Preferences()
        clone.categories.update(self.categories)
        clone.tags.update(self.tags)
        return clone

    def affinity(self, item: Mapping[str, Any], category_weight: float) -> float:
        """In [0, 1]: the item's best category and mean tag weight, each over the user's max."""
        top_category = max(self.categories.values(), default=0.0)
        top_tag = max(self.tags.values(), default=0.0)
        category = 0.0
        if top_category > 0:
            category = (
                max((self.categories.get(c, 0.0) for c in category_features(item)), default=0.0)
                / top_category
            )
        tags = [str(t) for t in item.get("tags") or ()]
        tag = 0.0
        if top_tag > 0 and tags:
            tag = sum(self.tags.get(t, 0.0) for t in tags) / (len(tags) * top_tag)
        return category_weight * category + (1.0 - category_weight) * tag


def choose_click(
    item_ids: Sequence[str],
    catalogue: Mapping[str, Mapping[str, Any]],
    preferences: Preferences,
    model: ClickModel,
    rng: random.Random,
) -> int | None:
    """Cascade: the 0-based position clicked, or None."""
    for position, item_id in enumerate(item_ids):
        item = catalogue.get(item_id)
        affinity = preferences.affinity(item, model.category_weight) if item else 0.0
        attractiveness = model.floor + (1.0 - model.floor) * affinity
        if rng.random() < model.propensity * attractiveness / math.log2(position + 2):
            return position
    return None


@dataclass(frozen=True)
class SimConfig:
    seed: int
    overrides: Mapping[str, Any]
    index: int  # position in the overrides list
    tagged: bool  # several override sets: event ids carry "-c<index>"

    @property
    def label(self) -> str:
        return f"seed={self.seed} overrides#{self.index}"

    def event_id(self, user_id: str, step: int) -> str:
        suffix = f"-c{self.index}" if self.tagged else ""
        return f"{SIM_PREFIX}{self.seed}-{user_id}-{step}{suffix}"


def configurations(seeds: Sequence[int], overrides: Sequence[Mapping[str, Any]]) -> list[SimConfig]:
    """Every (seed, overrides) pair, seeds outermost."""
    if not seeds:
        raise ToolInputError("no seed given")
    sets = list(overrides) or [{}]
    for n, entry in enumerate(sets):
        if not isinstance(entry, Mapping):
            raise ToolInputError(f"overrides #{n} is not a JSON object: {entry!r}")
    return [
        SimConfig(seed=s, overrides=dict(o), index=i, tagged=len(sets) > 1)
        for s in seeds
        for i, o in enumerate(sets)
    ]


def _type_weights(client: RecsysClient, namespace: str) -> dict[int, float]:
    weights = dict(DEFAULT_TYPE_WEIGHTS)
    body = client.get("/v1/event-types", namespace=namespace)
    for row in body.get("types", []):
        if isinstance(row.get("type"), int) and isinstance(row.get("weight"), int | float):
            weights[row["type"]] = float(row["weight"]) if row.get("active", True) else 0.0
    return weights


@dataclass
class _History:
    """Real past events per user, fetched once per run (before any simulated click)."""

    client: RecsysClient
    namespace: str
    catalogue: Mapping[str, Mapping[str, Any]]
    weights: Mapping[int, float]
    cache: dict[str, Preferences] = field(default_factory=dict)

    def preferences(self, user_id: str) -> Preferences:
        if user_id not in self.cache:
            prefs = Preferences()
            for event in self.client.pages("events", self.namespace, user_id=user_id):
                if str(event.get("event_id") or "").startswith(SIM_PREFIX):
                    continue
                item = self.catalogue.get(str(event["item_id"]))
                if item is not None:
                    weight = self.weights.get(int(event["type"]), 1.0)
                    prefs.add(item, weight * float(event.get("value", 1.0)))
            self.cache[user_id] = prefs
        return self.cache[user_id].copy()


def simulate(
    client: RecsysClient,
    namespace: str,
    configs: Sequence[SimConfig],
    *,
    users: int,
    steps: int,
    k: int,
    surface: str | None,
    segment: str | None = None,
    model: ClickModel | None = None,
    dry_run: bool = False,
    step_pause_s: float = 0.0,
    clock: Callable[[], datetime],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run every configuration; return the report (per configuration: CTR overall, per step and
    per segment, events pushed)."""
    model = model or ClickModel()
    if users < 1 or steps < 1 or k < 1:
        raise ToolInputError("--users, --steps and --k must be at least 1")
    catalogue = fetch_catalogue(client, namespace)
    # Validate every configuration before anything is pushed (a bad override is a 422 here).
    for config in configs:
        body: dict[str, Any] = {"k": 1, "overrides": dict(config.overrides)}
        if surface:
            body["surface"] = surface
        client.recommend(namespace, **body)
    history = _History(client, namespace, catalogue, _type_weights(client, namespace))
    runs: list[dict[str, Any]] = []
    for number, config in enumerate(configs, start=1):
        run = _run_one(
            client,
            namespace,
            config,
            history,
            catalogue,
            users=users,
            steps=steps,
            k=k,
            surface=surface,
            segment=segment,
            model=model,
            dry_run=dry_run,
            step_pause_s=step_pause_s,
            clock=clock,
            progress=progress,
        )
        runs.append({**run, "run": number})
    return {
        "namespace": namespace,
        "mode": "batch" if len(configs) > 1 else "single",
        "dry_run": dry_run,
        "users": users,
        "steps": steps,
        "k": k,
        "surface": surface,
        "segment": segment,
        "click_model": {
            "propensity": model.propensity,
            "floor": model.floor,
            "category_weight": model.category_weight,
        },
        "runs": runs,
        "best": max(runs, key=lambda r: (r["ctr"], -r["run"]))["run"] if runs else None,
    }


def _run_one(
    client: RecsysClient,
    namespace: str,
    config: SimConfig,
    history: _History,
    catalogue: Mapping[str, Mapping[str, Any]],
    *,
    users: int,
    steps: int,
    k: int,
    surface: str | None,
    segment: str | None,
    model: ClickModel,
    dry_run: bool,
    step_pause_s: float,
    clock: Callable[[], datetime],
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    sample = sample_users(client, namespace, users, seed=config.seed, segment=segment)
    prefs = {str(u["user_id"]): history.preferences(str(u["user_id"])) for u in sample}
    per_step: list[dict[str, Any]] = []
    segments: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    clicked_items: set[str] = set()
    shown_items: set[str] = set()
    pushed = {"events": 0, "inserted": 0, "duplicates": 0}
    for step in range(1, steps + 1):
        events: list[dict[str, Any]] = []
        impressions = clicks = 0
        for user in sample:
            user_id = str(user["user_id"])
            body: dict[str, Any] = {"user_id": user_id, "k": k}
            if surface:
                body["surface"] = surface
            if config.overrides:
                body["overrides"] = dict(config.overrides)
            response = client.recommend(namespace, **body)
            item_ids = [str(i["item_id"]) for i in response["items"]]
            rng = random.Random(f"{config.seed}:{user_id}:{step}")
            position = choose_click(item_ids, catalogue, prefs[user_id], model, rng)
            impressions += len(item_ids)
            shown_items.update(item_ids)
            seg = segments[segment_of(user)]
            seg["lists"] += 1
            seg["impressions"] += len(item_ids)
            if position is None:
                continue
            clicks += 1
            seg["clicks"] += 1
            item_id = item_ids[position]
            clicked_items.add(item_id)
            prefs[user_id].add(catalogue[item_id], history.weights.get(CLICK, 1.0))
            events.append(
                {
                    "event_id": config.event_id(user_id, step),
                    "user_id": user_id,
                    "item_id": item_id,
                    "type": CLICK,
                    "value": 1.0,
                    "ts": clock().isoformat().replace("+00:00", "Z"),
                    "meta": {
                        "surface": surface or "home",
                        "session_id": f"{SIM_PREFIX}{config.seed}-{user_id}",
                        "source": "simulation",
                        "step": step,
                        "rank": position + 1,
                    },
                }
            )
        if events and not dry_run:
            result = client.push("events", namespace, events)
            pushed["events"] += len(events)
            pushed["inserted"] += result.get("inserted", 0)
            pushed["duplicates"] += result.get("duplicates", 0)
        per_step.append(
            {
                "step": step,
                "lists": len(sample),
                "impressions": impressions,
                "clicks": clicks,
                "ctr": round(share(clicks, impressions), 6),
                "list_ctr": round(share(clicks, len(sample)), 6),
            }
        )
        if progress:
            progress(1)
        if step < steps and step_pause_s > 0 and not dry_run:
            time.sleep(step_pause_s)  # let the server fold the clicks into its signals
    impressions = sum(s["impressions"] for s in per_step)
    clicks = sum(s["clicks"] for s in per_step)
    lists = sum(s["lists"] for s in per_step)
    return {
        "config": {"seed": config.seed, "overrides": dict(config.overrides)},
        "label": config.label,
        "users": len(sample),
        "lists": lists,
        "impressions": impressions,
        "clicks": clicks,
        "ctr": round(share(clicks, impressions), 6),
        "list_ctr": round(share(clicks, lists), 6),
        "per_step": per_step,
        "per_segment": {
            name: {
                **counts,
                "ctr": round(share(counts["clicks"], counts["impressions"]), 6),
                "list_ctr": round(share(counts["clicks"], counts["lists"]), 6),
            }
            for name, counts in sorted(segments.items())
        },
        "distinct_items_shown": len(shown_items),
        "distinct_items_clicked": len(clicked_items),
        "events": pushed,
    }


def parse_overrides_list(payload: Any) -> list[dict[str, Any]]:
    """`--overrides-json`: one object or a list of objects."""
    if isinstance(payload, Mapping):
        return [dict(payload)]
    if isinstance(payload, list) and all(isinstance(x, Mapping) for x in payload):
        return [dict(x) for x in payload]
    raise ToolInputError("--overrides-json must be a JSON object or a list of JSON objects")


def ctr_table(runs: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = [f"{'run':>3}  {'seed':>6}  {'ctr':>8}  {'list ctr':>8}  per-step ctr   overrides"]
    for run in runs:
        steps = " ".join(f"{s['ctr']:.3f}" for s in run["per_step"])
        lines.append(
            f"{run['run']:>3}  {run['config']['seed']:>6}  {run['ctr']:>8.4f}  "
            f"{run['list_ctr']:>8.4f}  {steps}   {run['config']['overrides'] or '{}'}"
        )
    return lines


__all__ = [
    "ClickModel",
    "Preferences",
    "SimConfig",
    "choose_click",
    "configurations",
    "ctr_table",
    "parse_overrides_list",
    "simulate",
]

"""Scenario checks S1-S10 (`run_scenarios.py`, `recsys scenarios`): behavioural tests of a live,
seeded namespace over HTTP, each a PASS/FAIL verdict with the values it measured and the
thresholds it compared them with.

The scenarios leave the namespace as they found it. They never change its config: knob changes
go in request `overrides`, filters in request `constraints`. Rules are created on a surface of
their own (``scenario-s2``, ...), so live traffic never sees them, and deleted in a ``finally``;
the run ends by checking that the namespace's rules and config version are what they were.
(Ranking requests still leave decision-audit records and metrics counters behind, as any
request does.) Before/after comparisons assume nobody writes events to the namespace during the
run's few seconds: run the scenarios on a seeded namespace, not on one taking live traffic.

What each scenario measures (lists have ``K = 10`` items unless said otherwise):

* **S1 include filter** - ``constraints.include_tags_any`` = [a tag]: every returned item has it.
* **S2 block tag** - a BLOCK TAG rule on ``sale`` (or, when the sampled lists show no sale item,
  the tag they show most): no returned item has it on the rule's surface (while the lists
  before the rule did), and another surface still shows it; the rule is deleted afterwards.
* **S3 boost moves up** - a BOOST ITEM rule on an item ranked low (about rank 40 of 50) in each
  of a few users' lists: its rank improves for every one of them.
* **S4 MMR lowers intra-list similarity** - the same users ranked with ``mmr_lambda`` 1.0 and
  0.3: the mean intra-list similarity (pairwise Jaccard of the items' tag and category features,
  top 10) goes down, and NDCG@10 stays within ``S4_NDCG_BUDGET`` of the undiversified lists.
  NDCG is honest: users are ranked as of a temporal cut (``context.as_of``, the instant before
  which ``TRAIN_SHARE`` of the events happened) and scored against what they did after it.
* **S5 pin at slot** - a PIN ITEM rule at position 3: the item is at rank 3 in every sampled
  list, exactly once, and the other items keep the order they had without the pin.
* **S6 brand whitelist** - ``constraints.brands`` = the two largest brands: only those brands.
* **S7 starter profile** - cold users at the cut (fewer events than
  ``PROFILE_MIN_EVENTS_FOR_BOOST`` before it, at least one after) and unknown user ids, ranked as
  of the cut: the average MRR@10 of their next events is at least ``s7_min_avg_mrr``, the
  average number of distinct categories in the top 10 at least ``s7_min_avg_categories``
  (both from guardrails.yml), and every list was shaped by a starter profile.
* **S8 new-item boost exposure** - a BOOST TAG ``new`` rule: the share of ``new`` items in the
  sampled lists increases.
* **S9 margin boost trade-off** - a BOOST ITEM rule on the highest-margin decile of items: the
  average ``props.margin`` of the listed items rises; the change of NDCG@10 (same temporal cut)
  and of the listed items' popularity is reported alongside, as the price paid.
* **S10 explainability** - ``explain_level: full`` and ``include_reasons``: every item has
  reasons and an explain block with blend parts and raw signals, the parts sum to the blended
  score within 1e-6, and the score is the blended score times the personalisation multiplier
  (within 1e-5: all three arrive rounded to 6 places; items boosted by a rule are skipped).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from recsys.client import ApiCallError, RecsysClient
from recsys.offline.dataset import NamespaceData, temporal_split
from recsys.offline.evaluate import iso
from recsys.offline.guardrails import Thresholds
from recsys.offline.metrics import per_user_ranking_metrics
from recsys.toolkit.data import fetch_namespace

K = 10  # list length of every scenario (the metrics' cutoff)
LONG_K = 50  # S3 looks further down the list
TRAIN_SHARE = 0.8  # S4/S7/S9: share of events before the temporal cut
RULE_PRIORITY = 100_000  # scenario rules outrank standing rules of the same action
RULE_WAIT_S = 10.0  # a new rule must be in force within this long
S1_TAG = "sale"
S3_USERS = 5
S3_BOOST = 0.5
S3_TARGET_SHARE = 0.8  # the boosted item sits at this share of the way down the long list
S4_LAMBDAS = (1.0, 0.3)
# Diversified NDCG@10 >= (1 - budget) x undiversified NDCG@10. lambda = 0.3 weighs similarity
# 7:3 over relevance, the aggressive end of the knob: on the synthetic shop (sessions stay inside
# one product cluster two times in three) it costs 20-40% of NDCG@10, lambda = 0 about 90%.
# Half is the budget: it admits the designed trade-off and fails a diversification that throws
# relevance away. `recsys scenarios --s4-ndcg-budget` tightens it.
S4_NDCG_BUDGET = 0.5
S5_POSITION = 3
S5_USERS = 10
S6_BRANDS = 2
S7_UNKNOWN_USERS = 10
S8_TAG = "new"
S8_BOOST = 0.3
S9_TOP_SHARE = 0.1
S9_BOOST = 0.2
S10_SUM_TOLERANCE = 1e-6
S10_SCORE_TOLERANCE = 1e-5  # score, blended score and multiplier are each rounded to 6 places

SCENARIOS: dict[str, str] = {
    "S1": "include filter",
    "S2": "block tag",
    "S3": "boost moves up",
    "S4": "MMR lowers intra-list similarity",
    "S5": "pin at slot",
    "S6": "brand whitelist",
    "S7": "starter profile",
    "S8": "new-item boost exposure",
    "S9": "margin boost trade-off",
    "S10": "explainability",
}


class ScenarioInputError(ValueError):
    """The namespace cannot be tested (empty, no events): the command exits with 2."""


class ScenarioError(RuntimeError):
    """A scenario could not measure what it needs; it fails with this message."""


# --- verdicts --------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


@dataclass(frozen=True)
class Check:
    """`value op threshold`; a missing (None/NaN) value never passes."""

    name: str
    value: float | None
    op: str
    threshold: float

    @property
    def passed(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return _OPS[self.op](self.value, self.threshold)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "passed": self.passed,
        }


def check(name: str, value: float | None, op: str, threshold: float) -> Check:
    return Check(name, None if value is None else float(value), op, float(threshold))


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


@dataclass
class ScenarioResult:
    id: str
    name: str
    checks: list[Check] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": "PASS" if self.passed else "FAIL",
            "passed": self.passed,
            "checks": [c.as_dict() for c in self.checks],
            "measured": self.measured,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


# --- the namespace as the scenarios see it ---------------------------------------------------


@dataclass(frozen=True)
class Holdout:
    """A temporal cut: events at or before `cut_us` are history, later ones are relevance."""

    cut_us: int
    train_counts: Mapping[str, int]  # item -> events up to the cut
    history: Mapping[str, int]  # user -> events up to the cut
    relevant: Mapping[str, frozenset[str]]  # user -> items interacted with after the cut

    @property
    def as_of(self) -> str:
        return iso(self.cut_us)


def build_holdout(data: NamespaceData, train_share: float = TRAIN_SHARE) -> Holdout:
    events = data.events
    split = temporal_split(data, train_share=train_share)
    user_ids = events.users.ids
    item_ids = events.items.ids
    train = events.ts_us <= split.cut_us
    item_counts = np.bincount(events.item[train], minlength=len(item_ids))
    user_counts = np.bincount(events.user[train], minlength=len(user_ids))
    relevant: dict[str, set[str]] = {}
    for u, i in zip(events.user[~train].tolist(), events.item[~train].tolist(), strict=True):
        relevant.setdefault(user_ids[u], set()).add(item_ids[i])
    return Holdout(
        cut_us=split.cut_us,
        train_counts={item_ids[i]: int(n) for i, n in enumerate(item_counts) if n},
        history={user_ids[u]: int(n) for u, n in enumerate(user_counts) if n},
        relevant={u: frozenset(items) for u, items in relevant.items()},
    )


def item_features(item: Mapping[str, Any]) -> frozenset[str]:
    """Tags plus "category:<name>" for the category and each level of its path (the features
    the server matches tags and categories against)."""
    categories = {item.get("category"), *(item.get("category_path") or [])}
    return frozenset(
        [*(str(t) for t in item.get("tags") or []), *(f"category:{c}" for c in categories if c)]
    )


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass
class Shop:
    namespace: str
    items: dict[str, dict[str, Any]]
    users: dict[str, dict[str, Any]]  # user_id -> traits
    holdout: Holdout
    knobs: dict[str, Any]  # the namespace's effective config
    config_version: int
    rule_ids: frozenset[str]
    features: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = {i: item_features(item) for i, item in self.items.items()}

    @property
    def available(self) -> list[str]:
        return sorted(i for i, item in self.items.items() if item.get("available", True))

    def item(self, item_id: str) -> Mapping[str, Any]:
        """The item's row ({} for an id pushed after the run started)."""
        return self.items.get(item_id, {})

    def tagged(self, item_id: str, tag: str) -> bool:
        return tag in (self.item(item_id).get("tags") or [])

    def intra_list_similarity(self, ranked: Sequence[str]) -> float | None:
        top = [self.features.get(i, frozenset()) for i in ranked[:K]]
        if len(top) < 2:
            return None
        pairs = [jaccard(a, b) for n, a in enumerate(top) for b in top[n + 1 :]]
        return float(np.mean(pairs))

    def margin(self, item_id: str) -> float | None:
        value = (self.item(item_id).get("props") or {}).get("margin")
        return float(value) if isinstance(value, int | float) else None


def load_shop(client: RecsysClient, namespace: str) -> Shop:
    data = fetch_namespace(client, namespace)
    if not data.items:
        raise ScenarioInputError(
            f"namespace {namespace!r} has no items: seed it first (seed_dataset.py)"
        )
    if len(data.events) == 0:
        raise ScenarioInputError(
            f"namespace {namespace!r} has no events: seed it first (seed_dataset.py)"
        )
    config = client.config(namespace)
    rules = client.list_all("/v1/admin/rules", "rules", namespace=namespace)
    return Shop(
        namespace=namespace,
        items={str(i["item_id"]): dict(i) for i in data.items},
        users={str(u["user_id"]): dict(u.get("traits") or {}) for u in data.users},
        holdout=build_holdout(data),
        knobs=dict(config["config"]),
        config_version=int(config["version"]),
        rule_ids=frozenset(str(r["rule_id"]) for r in rules),
    )


# --- the run ---------------------------------------------------------------------------------


def _sample(ids: Iterable[str], n: int, seed: int, salt: int) -> list[str]:
    pool = sorted(set(ids))
    if len(pool) <= n:
        return pool
    rng = np.random.default_rng([seed, salt])
    return sorted(rng.choice(pool, size=n, replace=False).tolist())


def _ids(response: Mapping[str, Any]) -> list[str]:
    return [str(item["item_id"]) for item in response["items"]]


def _matched_rules(response: Mapping[str, Any]) -> set[str]:
    for stage in response.get("trace", {}).get("stages", []):
        if stage.get("stage") == "rules":
            return set(stage.get("matched_rule_ids") or [])
    return set()


def ranking_metrics(
    lists: Sequence[Sequence[str]], relevant: Sequence[Iterable[str]], *, k: int = K
) -> dict[str, np.ndarray]:
    """`recsys.offline.metrics.per_user_ranking_metrics` over item ids."""
    codes: dict[str, int] = {}

    def code(item: str) -> int:
        return codes.setdefault(item, len(codes))

    return per_user_ranking_metrics(
        [[code(i) for i in ranked] for ranked in lists],
        [{code(i) for i in rel} for rel in relevant],
        k=k,
    )


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


class ScenarioRun:
    """One run of the scenarios against a namespace; `run()` returns the results in order."""

    def __init__(
        self,
        client: RecsysClient,
        shop: Shop,
        *,
        thresholds: Thresholds,
        users: int,
        seed: int,
        rule_wait_s: float = RULE_WAIT_S,
        ndcg_budget: float = S4_NDCG_BUDGET,
    ) -> None:
        self.client = client
        self.shop = shop
        self.namespace = shop.namespace
        self.thresholds = thresholds
        self.n_users = users
        self.seed = seed
        self.rule_wait_s = rule_wait_s
        self.ndcg_budget = ndcg_budget
        holdout = shop.holdout
        known = set(shop.users) | set(holdout.history) | set(holdout.relevant)
        self.live_users = _sample(known, users, seed, 1)
        # Users with history before the cut and events after it: honest relevance.
        self.warm_users = _sample(
            (u for u in holdout.relevant if holdout.history.get(u, 0) > 0), users, seed, 2
        )
        cold_below = int(shop.knobs.get("profile_min_events_for_boost", 3))
        self.cold_threshold = cold_below
        self.cold_users = _sample(
            (u for u in holdout.relevant if holdout.history.get(u, 0) < cold_below), users, seed, 3
        )
        self.unknown_users = [
            f"scenario-unknown-{seed}-{n}" for n in range(min(S7_UNKNOWN_USERS, users))
        ]
        self.created_rules: list[str] = []
        self.cleanup_errors: list[str] = []

    # --- requests ------------------------------------------------------------------------------

    def recommend(
        self,
        user_id: str | None,
        *,
        surface: str,
        k: int = K,
        as_of: bool = False,
        **body: Any,
    ) -> dict[str, Any]:
        context: dict[str, Any] = {}
        if as_of:
            context["as_of"] = self.shop.holdout.as_of
        # The checks read the trace (matched rules, starter profile), sent only with an
        # explanation.
        body.setdefault("explain_level", "numeric")
        return self.client.recommend(
            self.namespace, user_id=user_id, k=k, surface=surface, context=context, **body
        )

    def lists(
        self, users: Sequence[str], *, surface: str, k: int = K, as_of: bool = False, **body: Any
    ) -> dict[str, list[str]]:
        return {
            u: _ids(self.recommend(u, surface=surface, k=k, as_of=as_of, **body)) for u in users
        }

    @contextmanager
    def rule(self, body: Mapping[str, Any], probe: Callable[[], dict[str, Any]]) -> Iterator[str]:
        """Create a rule, wait until `probe()` shows it matched, delete it on the way out."""
        created = self.client.post(
            "/v1/admin/rules",
            {"namespace": self.namespace, "priority": RULE_PRIORITY, **body},
        )
        rule_id = str(created["rule_id"])
        self.created_rules.append(rule_id)
        try:
            deadline = time.monotonic() + self.rule_wait_s
            while rule_id not in _matched_rules(probe()):
                if time.monotonic() > deadline:
                    hint = (
                        ""
                        if self.shop.knobs.get("rules_enable", True)
                        else " (RULES_ENABLE is off)"
                    )
                    raise ScenarioError(
                        f"rule {rule_id} ({body.get('action')} {body.get('target_type')}) "
                        f"not in force after {self.rule_wait_s:g} s{hint}"
                    )
                time.sleep(0.1)
            yield rule_id
        finally:
            try:
                self.client.call("DELETE", f"/v1/admin/rules/{rule_id}")
            except (ApiCallError, httpx.HTTPError) as exc:
                self.cleanup_errors.append(f"could not delete rule {rule_id}: {exc}")

    # --- the scenarios -------------------------------------------------------------------------

    def run(self, only: Iterable[str] | None = None) -> list[ScenarioResult]:
        wanted = [s.upper() for s in only] if only else list(SCENARIOS)
        unknown = [sid for sid in wanted if sid not in SCENARIOS]
        if unknown:
            raise ScenarioInputError(
                f"unknown scenario {', '.join(unknown)} (known: {', '.join(SCENARIOS)})"
            )
        results = []
        for sid in wanted:
            result = ScenarioResult(sid, SCENARIOS[sid])
            started = time.perf_counter()
            try:
                getattr(self, sid.lower())(result)
            except (ApiCallError, httpx.HTTPError, ScenarioError) as exc:
                result.error = str(exc)
            result.seconds = time.perf_counter() - started
            results.append(result)
        return results

    def side_effects(self) -> dict[str, Any]:
        """What the run left behind: must be nothing."""
        try:
            rules = self.client.list_all("/v1/admin/rules", "rules", namespace=self.namespace)
            version = int(self.client.config(self.namespace)["version"])
        except (ApiCallError, httpx.HTTPError) as exc:
            return {"clean": False, "errors": [*self.cleanup_errors, f"cannot verify: {exc}"]}
        now_ids = {str(r["rule_id"]) for r in rules}
        leftover = sorted(now_ids & set(self.created_rules))
        clean = not leftover and version == self.shop.config_version and not self.cleanup_errors
        return {
            "clean": clean,
            "rules_created": len(self.created_rules),
            "rules_left_behind": leftover,
            "rules_before": len(self.shop.rule_ids),
            "rules_after": len(now_ids),
            "config_version_before": self.shop.config_version,
            "config_version_after": version,
            "errors": list(self.cleanup_errors),
        }

    def _need(self, users: Sequence[str], what: str) -> None:
        if not users:
            raise ScenarioError(f"no {what} to sample")

    def s1(self, r: ScenarioResult) -> None:
        self._need(self.live_users, "users")
        tag = self._common_tag(S1_TAG)
        lists = self.lists(
            self.live_users, surface="scenario-s1", constraints={"include_tags_any": [tag]}
        )
        shown = [i for ranked in lists.values() for i in ranked]
        violations = sum(not self.shop.tagged(i, tag) for i in shown)
        r.measured = {
            "tag": tag,
            "users": len(lists),
            "items_checked": len(shown),
            "violations": violations,
            "mean_list_length": _mean([len(x) for x in lists.values()]),
        }
        r.checks = [
            check("items without the tag", violations, "==", 0),
            check("items checked", len(shown), ">", 0),
        ]

    def _common_tag(self, preferred: str) -> str:
        """`preferred` when some available item has it, else the most common tag."""
        counts = Counter(
            t for i in self.shop.available for t in self.shop.items[i].get("tags") or []
        )
        if counts.get(preferred):
            return preferred
        if not counts:
            raise ScenarioError("no available item has a tag")
        return min(counts, key=lambda t: (-counts[t], t))

    def s2(self, r: ScenarioResult) -> None:
        self._need(self.live_users, "users")
        surface = "scenario-s2"
        before = self.lists(self.live_users, surface=surface)
        tags = Counter(
            t for x in before.values() for i in x for t in self.shop.item(i).get("tags") or []
        )
        if not tags:
            raise ScenarioError("the sampled lists show no tagged item")
        tag = S1_TAG if tags.get(S1_TAG) else min(tags, key=lambda t: (-tags[t], t))
        probe = max(before, key=lambda u: (sum(self.shop.tagged(i, tag) for i in before[u]), u))
        tagged_before = sum(self.shop.tagged(i, tag) for x in before.values() for i in x)
        body = {
            "surface": surface,
            "name": f"scenario S2: block tag {tag}",
            "action": "BLOCK",
            "target_type": "TAG",
            "target_key": tag,
        }
        with self.rule(body, lambda: self.recommend(probe, surface=surface)) as rule_id:
            after = self.lists(self.live_users, surface=surface)
            control = _ids(self.recommend(probe, surface="scenario-s2-control"))
        tagged_after = sum(self.shop.tagged(i, tag) for x in after.values() for i in x)
        control_tagged = sum(self.shop.tagged(i, tag) for i in control)
        r.measured = {
            "tag": tag,
            "rule_id": rule_id,
            "users": len(after),
            "tagged_items_before": tagged_before,
            "tagged_items_after": tagged_after,
            "tagged_items_other_surface": control_tagged,
            "mean_list_length_after": _mean([len(x) for x in after.values()]),
        }
        r.checks = [
            check("tagged items shown with the rule", tagged_after, "==", 0),
            check("tagged items shown without it", tagged_before, ">", 0),
            check("tagged items on another surface", control_tagged, ">", 0),
        ]

    def s3(self, r: ScenarioResult) -> None:
        surface = "scenario-s3"
        users = self.live_users[:S3_USERS]
        self._need(users, "users")
        before = self.lists(users, surface=surface, k=LONG_K)
        targets: dict[str, str] = {}
        for user, ranked in before.items():
            if len(ranked) >= 2 * K:
                candidate = ranked[int(S3_TARGET_SHARE * (len(ranked) - 1))]
                if candidate not in targets.values():
                    targets[user] = candidate
        if not targets:
            raise ScenarioError(f"no sampled user has a list of {2 * K}+ items")
        probe = next(iter(targets))
        body = {
            "surface": surface,
            "name": "scenario S3: boost low-ranked items",
            "action": "BOOST",
            "target_type": "ITEM",
            "item_ids": sorted(targets.values()),
            "boost_value": S3_BOOST,
        }
        with self.rule(body, lambda: self.recommend(probe, surface=surface, k=LONG_K)):
            after = self.lists(list(targets), surface=surface, k=LONG_K)
        cases: list[dict[str, Any]] = []
        improved = 0
        for user, item in targets.items():
            rank_before = before[user].index(item) + 1
            rank_after = after[user].index(item) + 1 if item in after[user] else None
            improved += rank_after is not None and rank_after < rank_before
            cases.append(
                {
                    "user_id": user,
                    "item_id": item,
                    "rank_before": rank_before,
                    "rank_after": rank_after,
                }
            )
        r.measured = {
            "boost_value": S3_BOOST,
            "cases": cases,
            "mean_rank_before": _mean([c["rank_before"] for c in cases]),
            "mean_rank_after": _mean([c["rank_after"] for c in cases]),
        }
        r.checks = [check("share of boosted items that moved up", improved / len(cases), "==", 1)]

    def _ndcg(self, lists: Mapping[str, Sequence[str]]) -> float | None:
        users = [u for u in lists if self.shop.holdout.relevant.get(u)]
        if not users:
            return None
        metrics = ranking_metrics(
            [lists[u] for u in users], [self.shop.holdout.relevant[u] for u in users]
        )
        return float(np.mean(metrics[f"ndcg@{K}"]))

    def s4(self, r: ScenarioResult) -> None:
        self._need(self.warm_users, "users with events on both sides of the cut")
        surface = "scenario-s4"
        runs = {
            lam: self.lists(
                self.warm_users, surface=surface, as_of=True, overrides={"mmr_lambda": lam}
            )
            for lam in S4_LAMBDAS
        }
        relevance, diverse = S4_LAMBDAS
        ils = {lam: _mean(map(self.shop.intra_list_similarity, runs[lam].values())) for lam in runs}
        ils_relevance, ils_diverse = ils[relevance], ils[diverse]
        ndcg = {lam: self._ndcg(runs[lam]) for lam in runs}
        base = ndcg[relevance]
        if base is None:
            raise ScenarioError("no sampled user has held-out events")
        r.measured = {
            "users": len(self.warm_users),
            "as_of": self.shop.holdout.as_of,
            "similarity": "Jaccard of tag and category features, mean over pairs in the top 10",
            "ndcg_budget": f"NDCG@10 may lose at most {self.ndcg_budget:.0%} of its lambda=1 value",
            **{f"ils_lambda_{lam}": _number(ils[lam]) for lam in runs},
            **{f"ndcg@10_lambda_{lam}": _number(ndcg[lam]) for lam in runs},
        }
        ils_drop = (
            None if ils_relevance is None or ils_diverse is None else ils_relevance - ils_diverse
        )
        r.checks = [
            check(f"ILS drop (lambda {relevance} - lambda {diverse})", ils_drop, ">", 0),
            check(
                f"NDCG@10 at lambda {diverse} (>= {1 - self.ndcg_budget:g} x lambda {relevance})",
                ndcg[diverse],
                ">=",
                (1 - self.ndcg_budget) * base,
            ),
        ]

    def s5(self, r: ScenarioResult) -> None:
        surface = "scenario-s5"
        users = self.live_users[:S5_USERS]
        self._need(users, "users")
        first = self.recommend(users[0], surface=surface, k=3 * K)
        ranked = _ids(first)
        if len(ranked) <= K:
            raise ScenarioError(f"{users[0]}'s list has only {len(ranked)} items")
        item = ranked[min(2 * K, len(ranked)) - 1]  # well outside the top K
        before = self.lists(users, surface=surface)
        body = {
            "surface": surface,
            "name": f"scenario S5: pin {item} at {S5_POSITION}",
            "action": "PIN",
            "target_type": "ITEM",
            "item_ids": [item],
            "position": S5_POSITION,
        }
        with self.rule(body, lambda: self.recommend(users[0], surface=surface)):
            after = self.lists(users, surface=surface)
        at_slot = sum(
            len(x) >= S5_POSITION and x[S5_POSITION - 1] == item and x.count(item) == 1
            for x in after.values()
        )
        comparable = [u for u in users if item not in before[u]]
        preserved = sum(
            [i for i in after[u] if i != item] == before[u][: K - 1] for u in comparable
        )
        full = sum(len(after[u]) == len(before[u]) for u in users)
        r.measured = {
            "item_id": item,
            "position": S5_POSITION,
            "users": len(users),
            "pinned_at_slot": at_slot,
            "order_preserved": preserved,
            "order_comparable_users": len(comparable),
            "full_lists": full,
        }
        r.checks = [
            check(
                f"share of lists with the item at rank {S5_POSITION}", at_slot / len(users), "==", 1
            ),
            check(
                "share of lists whose other items keep their order",
                preserved / len(comparable) if comparable else None,
                "==",
                1,
            ),
            check("share of lists of unchanged length", full / len(users), "==", 1),
        ]

    def s6(self, r: ScenarioResult) -> None:
        self._need(self.live_users, "users")
        counts = Counter(
            str(self.shop.items[i]["brand"])
            for i in self.shop.available
            if self.shop.items[i].get("brand")
        )
        if not counts:
            raise ScenarioError("no available item has a brand")
        brands = sorted(counts, key=lambda b: (-counts[b], b))[:S6_BRANDS]
        lists = self.lists(self.live_users, surface="scenario-s6", constraints={"brands": brands})
        shown = [i for ranked in lists.values() for i in ranked]
        violations = sum(self.shop.item(i).get("brand") not in brands for i in shown)
        r.measured = {
            "brands": brands,
            "users": len(lists),
            "items_checked": len(shown),
            "violations": violations,
            "brands_shown": sorted({str(self.shop.item(i).get("brand")) for i in shown}),
        }
        r.checks = [
            check("items of other brands", violations, "==", 0),
            check("items checked", len(shown), ">", 0),
        ]

    def s7(self, r: ScenarioResult) -> None:
        surface = "scenario-s7"
        min_mrr = self.thresholds.scenarios.get("s7_min_avg_mrr", 0.0)
        min_categories = self.thresholds.scenarios.get("s7_min_avg_categories", 0.0)
        responses = {
            u: self.recommend(u, surface=surface, as_of=True)
            for u in [*self.cold_users, *self.unknown_users]
        }
        lists = {u: _ids(resp) for u, resp in responses.items()}
        cold = list(self.cold_users)
        mrr = None
        if cold:
            metrics = ranking_metrics(
                [lists[u] for u in cold], [self.shop.holdout.relevant[u] for u in cold]
            )
            mrr = float(np.mean(metrics[f"mrr@{K}"]))

        def categories(user: str) -> int:
            return len({self.shop.item(i).get("category") for i in lists[user][:K]})

        starter = [
            u for u, resp in responses.items() if resp["trace"]["extras"].get("starter_profile")
        ]
        server_new = sum(
            bool(responses[u]["trace"]["extras"].get("user", {}).get("new_user")) for u in cold
        )
        r.measured = {
            "as_of": self.shop.holdout.as_of,
            "cold_users": len(cold),
            "cold_below_events": self.cold_threshold,
            "cold_users_by_segment": dict(
                sorted(
                    Counter(str(self.shop.users.get(u, {}).get("segment")) for u in cold).items()
                )
            ),
            "cold_users_served_as_new": server_new,
            "unknown_users": len(self.unknown_users),
            "avg_mrr@10": _number(mrr),
            "avg_categories_cold": _number(_mean([categories(u) for u in cold])),
            "avg_categories_unknown": _number(_mean([categories(u) for u in self.unknown_users])),
            "starter_sources": dict(
                Counter(
                    str(responses[u]["trace"]["extras"]["starter_profile"]["source"])
                    for u in starter
                )
            ),
            "thresholds_from": self.thresholds.source,
        }
        r.checks = [
            check("avg MRR@10 of cold users' next events", mrr, ">=", min_mrr),
            check(
                "avg distinct categories in the top 10",
                _mean([categories(u) for u in lists]),
                ">=",
                min_categories,
            ),
            check("share of lists shaped by a starter profile", len(starter) / len(lists), "==", 1),
        ]

    def s8(self, r: ScenarioResult) -> None:
        self._need(self.live_users, "users")
        surface = "scenario-s8"
        new_items = [i for i in self.shop.available if self.shop.tagged(i, S8_TAG)]
        if not new_items:
            raise ScenarioError(f"no available item is tagged {S8_TAG!r}")
        before = self.lists(self.live_users, surface=surface)

        def share(lists: Mapping[str, Sequence[str]]) -> float | None:
            return _mean([float(self.shop.tagged(i, S8_TAG)) for x in lists.values() for i in x])

        body = {
            "surface": surface,
            "name": f"scenario S8: boost tag {S8_TAG}",
            "action": "BOOST",
            "target_type": "TAG",
            "target_key": S8_TAG,
            "boost_value": S8_BOOST,
        }
        probe = self.live_users[0]
        with self.rule(body, lambda: self.recommend(probe, surface=surface)):
            after = self.lists(self.live_users, surface=surface)
        share_before, share_after = share(before), share(after)
        r.measured = {
            "tag": S8_TAG,
            "boost_value": S8_BOOST,
            "tagged_available_items": len(new_items),
            "users": len(after),
            "share_before": _number(share_before),
            "share_after": _number(share_after),
            "users_shown_new_before": sum(
                any(self.shop.tagged(i, S8_TAG) for i in x) for x in before.values()
            ),
            "users_shown_new_after": sum(
                any(self.shop.tagged(i, S8_TAG) for i in x) for x in after.values()
            ),
        }
        r.checks = [
            check(
                f"share of {S8_TAG!r} items: after - before",
                None if share_before is None or share_after is None else share_after - share_before,
                ">",
                0,
            )
        ]

    def s9(self, r: ScenarioResult) -> None:
        self._need(self.warm_users, "users with events on both sides of the cut")
        surface = "scenario-s9"
        margins = {i: m for i in self.shop.available if (m := self.shop.margin(i)) is not None}
        if not margins:
            raise ScenarioError("no available item has props.margin")
        count = min(200, max(5, math.ceil(S9_TOP_SHARE * len(margins))))
        top = sorted(margins, key=lambda i: (-margins[i], i))[:count]
        before = self.lists(self.warm_users, surface=surface, as_of=True)
        body = {
            "surface": surface,
            "name": "scenario S9: boost high-margin items",
            "action": "BOOST",
            "target_type": "ITEM",
            "item_ids": top,
            "boost_value": S9_BOOST,
        }
        probe = self.warm_users[0]
        with self.rule(body, lambda: self.recommend(probe, surface=surface, as_of=True)):
            after = self.lists(self.warm_users, surface=surface, as_of=True)
        counts = self.shop.holdout.train_counts
        top_set = set(top)

        def summary(lists: Mapping[str, Sequence[str]]) -> dict[str, float | None]:
            shown = [i for x in lists.values() for i in x]
            return {
                "avg_margin": _number(_mean([margins.get(i) for i in shown])),
                "ndcg@10": _number(self._ndcg(lists)),
                "avg_item_popularity": _number(_mean([float(counts.get(i, 0)) for i in shown])),
                "boosted_item_share": _number(_mean([float(i in top_set) for i in shown])),
            }

        b, a = summary(before), summary(after)
        lift = (
            None
            if a["avg_margin"] is None or b["avg_margin"] is None
            else (a["avg_margin"] - b["avg_margin"])
        )
        r.measured = {
            "boosted_items": len(top),
            "min_boosted_margin": margins[top[-1]],
            "boost_value": S9_BOOST,
            "users": len(self.warm_users),
            "as_of": self.shop.holdout.as_of,
            "before": b,
            "after": a,
            "margin_lift": _number(lift),
            "ndcg_change": _number(
                None
                if a["ndcg@10"] is None or b["ndcg@10"] is None
                else a["ndcg@10"] - b["ndcg@10"]
            ),
            "popularity_change": _number(
                None
                if a["avg_item_popularity"] is None or b["avg_item_popularity"] is None
                else a["avg_item_popularity"] - b["avg_item_popularity"]
            ),
        }
        r.checks = [check("avg margin of listed items: after - before", lift, ">", 0)]

    def s10(self, r: ScenarioResult) -> None:
        users = self.live_users
        self._need(users, "users")
        items: list[dict[str, Any]] = []
        for user in users:
            response = self.recommend(
                user, surface="scenario-s10", include_reasons=True, explain_level="full"
            )
            items.extend(response["items"])
        if not items:
            raise ScenarioError("the sampled lists are empty")
        no_reasons = no_explain = 0
        sum_errors: list[float] = []
        score_errors: list[float] = []
        pinned = 0
        for item in items:
            explain = item.get("explain") or {}
            reasons = item.get("reasons") or []
            if not reasons:
                no_reasons += 1
            if explain.get("pinned"):
                pinned += 1
                continue
            blend = explain.get("blend")
            if (
                not isinstance(blend, dict)
                or not blend
                or not all(key in explain for key in ("blended_score", "raw_signals", "sources"))
            ):
                no_explain += 1
                continue
            sum_errors.append(abs(sum(blend.values()) - explain["blended_score"]))
            if "boosted" not in reasons:
                expected = explain["blended_score"] * explain["personalisation_multiplier"]
                score_errors.append(abs(item["score"] - expected))
        max_sum = max(sum_errors) if sum_errors else None
        max_score = max(score_errors) if score_errors else None
        r.measured = {
            "users": len(users),
            "items": len(items),
            "items_without_reasons": no_reasons,
            "items_without_full_explain": no_explain,
            "pinned_items": pinned,
            "max_blend_sum_error": max_sum,
            "max_score_error": max_score,
            "reason_counts": dict(
                sorted(Counter(x for item in items for x in item.get("reasons") or []).items())
            ),
        }
        r.checks = [
            check("items without reasons", no_reasons, "==", 0),
            check("items without a full explain block", no_explain, "==", 0),
            # A hair over the tolerance absorbs binary floating point, not a real difference.
            check(
                "max |sum(blend parts) - blended_score|", max_sum, "<=", S10_SUM_TOLERANCE + 1e-12
            ),
            check("max |score - blended x multiplier|", max_score, "<=", S10_SCORE_TOLERANCE),
        ]


def run_scenarios(
    client: RecsysClient,
    namespace: str,
    *,
    thresholds: Thresholds,
    users: int,
    seed: int,
    only: Iterable[str] | None = None,
    ndcg_budget: float = S4_NDCG_BUDGET,
) -> dict[str, Any]:
    """Load the namespace, run the scenarios, check nothing was left behind; the report."""
    started = time.perf_counter()
    shop = load_shop(client, namespace)
    run = ScenarioRun(
        client, shop, thresholds=thresholds, users=users, seed=seed, ndcg_budget=ndcg_budget
    )
    results = run.run(only)
    side_effects = run.side_effects()
    return {
        "namespace": namespace,
        "seed": seed,
        "k": K,
        "sample": {
            "users": users,
            "live_users": len(run.live_users),
            "warm_users": len(run.warm_users),
            "cold_users": len(run.cold_users),
            "unknown_users": len(run.unknown_users),
        },
        "holdout": {
            "train_share": TRAIN_SHARE,
            "cut": shop.holdout.as_of,
            "users_with_later_events": len(shop.holdout.relevant),
        },
        "thresholds": {"source": thresholds.source, **dict(thresholds.scenarios)},
        "scenarios": [res.as_dict() for res in results],
        "passed": sum(res.passed for res in results),
        "failed": sum(not res.passed for res in results),
        "side_effects": side_effects,
        "seconds": round(time.perf_counter() - started, 3),
        "_results": results,
    }


__all__ = [
    "SCENARIOS",
    "Check",
    "Holdout",
    "K",
    "ScenarioError",
    "ScenarioInputError",
    "ScenarioResult",
    "ScenarioRun",
    "Shop",
    "build_holdout",
    "check",
    "item_features",
    "jaccard",
    "load_shop",
    "run_scenarios",
]

"""Check the namespace's merchandising rules against live rankings.

For every enabled rule (GET /v1/admin/rules) the tool ranks a few probes (an anonymous request,
a seeded sample of users, and users of the segments rules are scoped to) on the rule's surface,
as served and with the override `rules_enable=false`, and checks the rule's contract:

* BLOCK: no item of the served list matches the rule's target.
* PIN: an item the rule placed (reason "pinned", matching its target) sits at the rule's
  position, or at the next free slot when a higher-priority pin holds it; and when nothing was
  placed, no matching item was pinnable (available, not blocked, a candidate for this request,
  a free pin slot).
* BOOST (value >= 0): a matching item is in the served top k, or the rule promotes its best
  matching item compared with `rules_enable=false`, and never demotes it. A negative BOOST must
  never promote. Promotion is measured in score order (overrides mmr_lambda=1, no caps), among
  the items no other boost or pin or block touches: there only this rule can reorder them, so
  the comparison is exact (MMR would otherwise reshuffle lists whenever any boost moves).

Matching is computed here, from the item rows, independently of the server's rule engine.
Probes a rule does not apply to (another segment) are `not_applicable`; a PIN whose target may
be excluded for that user (e.g. recently purchased) is `inconclusive`. A rule fails when any
probe violates its contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recsys.client import RecsysClient
from recsys.toolkit.sampling import CATEGORY_PREFIX, item_features, sample_of, segment_of

ANY_SURFACE = "*"
STATUSES = ("violation", "pass", "inconclusive", "not_applicable")


def _brand(item: Mapping[str, Any]) -> str | None:
    if item.get("brand"):
        return str(item["brand"])
    for tag in item.get("tags") or ():
        if isinstance(tag, str) and tag.startswith("brand:"):
            return tag[len("brand:") :] or None
    return None


def target_ids(rule: Mapping[str, Any]) -> list[str]:
    """An ITEM rule's named items, in the order it names them."""
    names = [str(i) for i in rule.get("item_ids") or ()]
    if not names and rule.get("target_key"):
        names = [str(rule["target_key"])]
    elif rule.get("target_key") and str(rule["target_key"]) not in names:
        names.append(str(rule["target_key"]))
    return names


def matches(rule: Mapping[str, Any], item_id: str, item: Mapping[str, Any] | None) -> bool:
    kind, key = rule["target_type"], rule.get("target_key")
    if kind == "ITEM":
        return item_id in target_ids(rule)
    if item is None:
        return False
    if kind == "BRAND":
        return _brand(item) == key
    if kind == "CATEGORY":
        return f"{CATEGORY_PREFIX}{key}" in item_features(item)
    return str(key) in item_features(item)  # TAG


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def live(rule: Mapping[str, Any], now: datetime) -> bool:
    start, end = _instant(rule.get("valid_from")), _instant(rule.get("valid_until"))
    if not rule.get("enabled", True):
        return False
    if start is not None and now < start:
        return False
    return not (end is not None and now >= end)


def applies(rule: Mapping[str, Any], surface: str, segment_id: str | None) -> bool:
    if rule["surface"] not in (ANY_SURFACE, surface):
        return False
    return rule.get("segment_id") is None or rule["segment_id"] == segment_id


def precedence(rules: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Highest priority first, ties by rule_id: the order the ranker applies rules in."""
    return sorted(rules, key=lambda r: (-int(r.get("priority") or 0), str(r["rule_id"])))


# Score order: no diversity, no caps. Relevance is the score over its maximum, so the order is
# the score order, and a boost can move its items relative to the rest in one direction only.
SCORE_ORDER: dict[str, Any] = {"mmr_lambda": 1.0, "brand_cap": 0, "category_cap": 0}
VARIANTS: dict[str, dict[str, Any]] = {
    "served": {},
    "rules_off": {"rules_enable": False},
    "score_order": SCORE_ORDER,
    "score_order_rules_off": {**SCORE_ORDER, "rules_enable": False},
}
Fetch = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass
class Probe:
    """One request (user, surface), fetched lazily in the VARIANTS that checks need."""

    user_id: str | None
    surface: str
    fetch: Fetch  # overrides -> response
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def response(self, variant: str) -> dict[str, Any]:
        if variant not in self.responses:
            self.responses[variant] = self.fetch(VARIANTS[variant])
        return self.responses[variant]

    def ids(self, variant: str) -> list[str]:
        return [str(i["item_id"]) for i in self.response(variant)["items"]]

    @property
    def segment_id(self) -> str | None:
        value = self.response("served").get("segment_id")
        return str(value) if value is not None else None

    @property
    def on_ids(self) -> list[str]:
        return self.ids("served")

    @property
    def off_ids(self) -> list[str]:
        return self.ids("rules_off")

    def pinned(self, variant: str = "served") -> list[tuple[int, str]]:
        """(rank, item_id) of items the list says were pinned."""
        return [
            (int(i["rank"]), str(i["item_id"]))
            for i in self.response(variant)["items"]
            if "pinned" in (i.get("reasons") or ())
        ]


@dataclass(frozen=True)
class Verdict:
    status: str
    note: str
    details: Mapping[str, Any]


class RuleChecker:
    def __init__(
        self,
        rules: Sequence[Mapping[str, Any]],
        catalogue: Mapping[str, Mapping[str, Any]],
        *,
        k: int,
        max_pins: int,
        now: datetime,
    ) -> None:
        self.rules = precedence([r for r in rules if live(r, now)])
        self.catalogue = catalogue
        self.k = k
        self.max_pins = max_pins

    def _item(self, item_id: str) -> Mapping[str, Any] | None:
        return self.catalogue.get(item_id)

    def _matching(self, rule: Mapping[str, Any], ids: Sequence[str]) -> list[str]:
        return [i for i in ids if matches(rule, i, self._item(i))]

    def in_force(self, probe: Probe, action: str) -> list[Mapping[str, Any]]:
        return [
            r
            for r in self.rules
            if r["action"] == action and applies(r, probe.surface, probe.segment_id)
        ]

    def _blocked(self, probe: Probe, item_id: str) -> bool:
        return any(matches(b, item_id, self._item(item_id)) for b in self.in_force(probe, "BLOCK"))

    def check(self, rule: Mapping[str, Any], probe: Probe) -> Verdict:
        if not applies(rule, probe.surface, probe.segment_id):
            return Verdict("not_applicable", f"request is in segment {probe.segment_id!r}", {})
        action = rule["action"]
        if action == "BLOCK":
            return self._check_block(rule, probe)
        if action == "PIN":
            return self._check_pin(rule, probe)
        return self._check_boost(rule, probe)

    # --- BLOCK --------------------------------------------------------------------------------

    def _check_block(self, rule: Mapping[str, Any], probe: Probe) -> Verdict:
        leaked = self._matching(rule, probe.on_ids)
        hidden = self._matching(rule, probe.off_ids[: self.k])
        details = {"leaked": leaked, "matching_in_top_k_without_rules": len(hidden)}
        if leaked:
            return Verdict("violation", f"blocked items served: {leaked[:5]}", details)
        return Verdict("pass", f"{len(hidden)} matching item(s) kept out of the top k", details)

    # --- PIN ----------------------------------------------------------------------------------

    def _expected_slots(self, probe: Probe) -> dict[str, tuple[str, int]]:
        """item_id -> (owning rule_id, expected 0-based slot), replaying the slot assignment
        over the pins the list shows, in rule precedence order."""
        pinned_ids = [item_id for _, item_id in sorted(probe.pinned())]
        pins = self.in_force(probe, "PIN")
        owners: dict[str, list[str]] = {str(r["rule_id"]): [] for r in pins}
        claimed: set[str] = set()
        # ITEM pins name their items: they claim first; then each TAG/BRAND/CATEGORY pin
        # claims its one best-ranked matching item among the rest.
        for rule in (r for r in pins if r["target_type"] == "ITEM"):
            mine = [i for i in target_ids(rule) if i in pinned_ids and i not in claimed]
            owners[str(rule["rule_id"])] = mine
            claimed.update(mine)
        for rule in (r for r in pins if r["target_type"] != "ITEM"):
            mine = [i for i in self._matching(rule, pinned_ids) if i not in claimed][:1]
            owners[str(rule["rule_id"])] = mine
            claimed.update(mine)
        taken: set[int] = set()
        expected: dict[str, tuple[str, int]] = {}
        for rule in pins:
            for item_id in owners[str(rule["rule_id"])]:
                slot = int(rule.get("position") or 1) - 1
                while slot in taken:
                    slot += 1
                taken.add(slot)
                expected[item_id] = (str(rule["rule_id"]), slot)
        return expected

    def _check_pin(self, rule: Mapping[str, Any], probe: Probe) -> Verdict:
        rule_id = str(rule["rule_id"])
        expected = self._expected_slots(probe)
        ranks = {item_id: rank for rank, item_id in probe.pinned()}
        owned = {i: slot for i, (owner, slot) in expected.items() if owner == rule_id}
        if owned:
            # A slot beyond a short list ends up at its end: accept any rank up to the slot then.
            wrong = {
                i: {"expected_rank": slot + 1, "rank": ranks[i]}
                for i, slot in owned.items()
                if ranks[i] != slot + 1 and not (len(probe.on_ids) <= slot and ranks[i] <= slot)
            }
            details = {"pinned": {i: ranks[i] for i in owned}, "misplaced": wrong}
            if wrong:
                return Verdict("violation", f"pinned item(s) not at their slot: {wrong}", details)
            return Verdict("pass", f"pinned at rank(s) {sorted(ranks[i] for i in owned)}", details)
        # Nothing placed by this rule: was anything pinnable?
        if rule["target_type"] == "ITEM":
            candidates = target_ids(rule)
        else:
            candidates = self._matching(rule, list(self.catalogue))
        pinnable = [
            i
            for i in candidates
            if (self._item(i) or {}).get("available", False) and not self._blocked(probe, i)
        ]
        if not pinnable:
            return Verdict("not_applicable", "no available, unblocked item matches", {})
        if len(probe.pinned()) >= self.max_pins:
            return Verdict(
                "not_applicable", f"all {self.max_pins} pin slots held by other rules", {}
            )
        already = [i for i in pinnable if i in ranks]
        if already:
            return Verdict("not_applicable", f"{already[:3]} pinned by a rule ahead of it", {})
        candidates_seen = [i for i in pinnable if i in probe.off_ids]
        details = {"pinnable": pinnable[:10], "seen_as_candidates": candidates_seen[:10]}
        if candidates_seen or (probe.user_id is None and rule["target_type"] == "ITEM"):
            return Verdict("violation", "a pinnable item was not pinned", details)
        return Verdict("inconclusive", "no matching item among this request's candidates", details)

    # --- BOOST --------------------------------------------------------------------------------

    def _check_boost(self, rule: Mapping[str, Any], probe: Probe) -> Verdict:
        """Presence is read on the served list; promotion on the score-order pair, where
        only the boosts can reorder items, among the items no other boost moves."""
        others = [r for r in self.in_force(probe, "BOOST") if r["rule_id"] != rule["rule_id"]]

        # Pins hold their slots with rules on and rank freely with rules off: leave them out
        # of both lists.
        pinned_ids = {item_id for _, item_id in probe.pinned("score_order")}

        def hits(variant: str) -> list[int]:
            movable = [
                i
                for i in probe.ids(variant)
                if i not in pinned_ids
                and not self._blocked(probe, i)
                and not any(matches(o, i, self._item(i)) for o in others)
            ]
            return [n for n, i in enumerate(movable, start=1) if matches(rule, i, self._item(i))]

        pinned = {item_id for _, item_id in probe.pinned()}
        served = [
            n
            for n, i in enumerate(probe.on_ids[: self.k], start=1)
            if matches(rule, i, self._item(i)) and i not in pinned
        ]
        on, off = hits("score_order"), hits("score_order_rules_off")
        best_on, best_off = (on[0] if on else None), (off[0] if off else None)
        details = {
            "served_top_k_ranks": served,
            "best_rank_score_order": best_on,
            "best_rank_score_order_rules_off": best_off,
        }
        if not served and best_on is None and best_off is None:
            return Verdict(
                "not_applicable", "no matching item that only this boost moves was ranked", details
            )
        beyond = max(len(probe.ids("score_order")), len(probe.ids("score_order_rules_off"))) + 1
        on_rank, off_rank = best_on or beyond, best_off or beyond
        compared = f"best rank {best_on} with rules vs {best_off} without (score order)"
        if float(rule.get("boost_value") or 0.0) >= 0:
            if on_rank > off_rank:
                return Verdict("violation", f"a positive boost demoted: {compared}", details)
            if served:
                return Verdict("pass", f"in the served top {self.k} at rank {served[0]}", details)
            if on_rank < off_rank:
                return Verdict("pass", f"promoted: {compared}", details)
            return Verdict(
                "violation", f"not in the top {self.k} and not promoted: {compared}", details
            )
        if on_rank < off_rank:
            return Verdict("violation", f"a negative boost promoted: {compared}", details)
        return Verdict("pass", f"not promoted: {compared}", details)


def probe_users(
    users: Sequence[Mapping[str, Any]],
    rules: Sequence[Mapping[str, Any]],
    *,
    n: int,
    seed: int,
    per_segment: int = 3,
) -> list[str | None]:
    """The probes: an anonymous request, `n` sampled users, and for each segment a rule is
    scoped to, up to `per_segment` users whose traits.segment has that name (segment rules
    are otherwise easily missed by a small sample)."""
    chosen = [str(u["user_id"]) for u in sample_of(users, n, seed=seed)] if n else []
    for segment_id in sorted({str(r["segment_id"]) for r in rules if r.get("segment_id")}):
        members = [u for u in users if segment_of(u) == segment_id]
        for user in sample_of(members, per_segment, seed=seed):
            if str(user["user_id"]) not in chosen:
                chosen.append(str(user["user_id"]))
    return [None, *chosen]


def _probe(
    client: RecsysClient,
    namespace: str,
    user_id: str | None,
    surface: str,
    depth: int,
) -> Probe:
    body: dict[str, Any] = {"k": depth, "surface": surface, "include_reasons": True}
    if user_id is not None:
        body["user_id"] = user_id

    def fetch(overrides: Mapping[str, Any]) -> dict[str, Any]:
        return client.recommend(namespace, **body, overrides=dict(overrides))

    return Probe(user_id, surface, fetch)


def check_rules(
    client: RecsysClient,
    namespace: str,
    rules: Sequence[Mapping[str, Any]],
    catalogue: Mapping[str, Mapping[str, Any]],
    user_ids: Sequence[str | None],
    *,
    default_surface: str,
    k: int,
    depth: int,
    now: datetime,
) -> dict[str, Any]:
    config = client.config(namespace)["config"]
    enabled = [r for r in rules if r.get("enabled", True)]
    report: dict[str, Any] = {
        "namespace": namespace,
        "k": k,
        "depth": depth,
        "probes": [u for u in user_ids],
        "rules_enable": bool(config.get("rules_enable", True)),
        "rules_max_pin_slots": int(config.get("rules_max_pin_slots", 0)),
        "rules": [],
    }
    if not report["rules_enable"]:
        report["warning"] = "RULES_ENABLE is false for this namespace: no rule is in force"
    positions = [int(r.get("position") or 1) for r in enabled if r["action"] == "PIN"]
    depth = min(200, max(depth, k, *positions)) if positions else min(200, max(depth, k))
    report["depth"] = depth
    checker = RuleChecker(enabled, catalogue, k=k, max_pins=report["rules_max_pin_slots"], now=now)
    probes: dict[tuple[str | None, str], Probe] = {}
    for rule in precedence(enabled):
        surface = default_surface if rule["surface"] == ANY_SURFACE else str(rule["surface"])
        entry: dict[str, Any] = {
            "rule_id": rule["rule_id"],
            "name": rule.get("name"),
            "action": rule["action"],
            "target": {
                "type": rule["target_type"],
                "key": rule.get("target_key"),
                "item_ids": list(rule.get("item_ids") or ()),
            },
            "surface": surface,
            "segment_id": rule.get("segment_id"),
            "priority": rule.get("priority", 0),
            "position": rule.get("position"),
            "boost_value": rule.get("boost_value"),
            "counts": dict.fromkeys(STATUSES, 0),
            "probes": [],
        }
        report["rules"].append(entry)
        if not report["rules_enable"]:
            entry["status"] = "not_applicable"
            entry["note"] = "RULES_ENABLE is false"
            continue
        if not live(rule, now):
            entry["status"] = "not_applicable"
            entry["note"] = "outside its validity window"
            continue
        for user_id in user_ids:
            key = (user_id, surface)
            if key not in probes:
                probes[key] = _probe(client, namespace, user_id, surface, depth)
            verdict = checker.check(rule, probes[key])
            entry["counts"][verdict.status] += 1
            entry["probes"].append(
                {
                    "user_id": user_id,
                    "segment_id": probes[key].segment_id,
                    "status": verdict.status,
                    "note": verdict.note,
                    "details": dict(verdict.details),
                }
            )
        entry["status"] = next(s for s in STATUSES if entry["counts"][s] > 0 or s == STATUSES[-1])
        first = next((p for p in entry["probes"] if p["status"] == entry["status"]), None)
        entry["note"] = first["note"] if first else "no probe"
    statuses = [r["status"] for r in report["rules"]]
    report["summary"] = {s: statuses.count(s) for s in STATUSES}
    report["requests"] = sum(len(p.responses) for p in probes.values())
    report["passed"] = report["summary"]["violation"] == 0
    return report


__all__ = [
    "Probe",
    "RuleChecker",
    "Verdict",
    "applies",
    "check_rules",
    "live",
    "matches",
    "probe_users",
]

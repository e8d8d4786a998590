"""Guardrails: thresholds from guardrails.yml (defaults, then the customer whose name or
namespace matches, then command-line flags) and the verdicts of runs against them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

QUALITY_KEYS = (
    "min_segment_lift_ndcg",
    "min_segment_lift_mrr",
    "min_catalog_coverage",
    "min_long_tail_share",
)
SCENARIO_KEYS = ("s7_min_avg_mrr", "s7_min_avg_categories")


class GuardrailsError(ValueError):
    """The guardrails file is missing or malformed."""


@dataclass(frozen=True)
class Thresholds:
    quality: Mapping[str, float] = field(default_factory=dict)
    scenarios: Mapping[str, float] = field(default_factory=dict)
    source: str = "defaults"


def load_thresholds(
    path: Path, *, namespace: str, overrides: Mapping[str, float | None] | None = None
) -> Thresholds:
    """defaults -> customers.<name> matching `namespace` by name or by `namespace:` -> flags."""
    if not path.exists():
        raise GuardrailsError(f"{path} not found")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise GuardrailsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise GuardrailsError(f"{path}: expected a mapping at the top")
    defaults = doc.get("defaults") or {}
    quality = _numbers(defaults.get("quality") or {}, QUALITY_KEYS, f"{path}: defaults.quality")
    scenarios = _numbers(
        defaults.get("scenarios") or {}, SCENARIO_KEYS, f"{path}: defaults.scenarios"
    )
    source = "defaults"
    for name, customer in (doc.get("customers") or {}).items():
        if not isinstance(customer, dict):
            raise GuardrailsError(f"{path}: customers.{name} must be a mapping")
        if namespace in (name, customer.get("namespace")):
            where = f"{path}: customers.{name}"
            quality.update(_numbers(customer.get("quality") or {}, QUALITY_KEYS, where))
            scenarios.update(_numbers(customer.get("scenarios") or {}, SCENARIO_KEYS, where))
            source = f"customers.{name}"
            break
    flagged = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key, value in flagged.items():
        (quality if key in QUALITY_KEYS else scenarios)[key] = float(value)
    if flagged:
        source += " + flags"
    return Thresholds(quality=quality, scenarios=scenarios, source=source)


def _numbers(section: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> dict[str, float]:
    out = {}
    for key, value in section.items():
        if key not in allowed:
            raise GuardrailsError(f"{where}.{key}: unknown threshold (known: {', '.join(allowed)})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GuardrailsError(f"{where}.{key}: must be a number")
        out[key] = float(value)
    return out


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
        }


def quality_checks(objectives: Mapping[str, float], thresholds: Thresholds) -> list[Check]:
    """Checks of one run's objectives (segment lifts are relative to popularity)."""
    measured = {
        "min_segment_lift_ndcg": objectives.get("segment_ndcg_lift"),
        "min_segment_lift_mrr": objectives.get("segment_mrr_lift"),
        "min_catalog_coverage": objectives.get("catalog_coverage"),
        "min_long_tail_share": objectives.get("long_tail_share"),
    }
    checks = []
    for key, threshold in thresholds.quality.items():
        value = measured.get(key)
        value = float("nan") if value is None else float(value)
        checks.append(Check(key, value, threshold, bool(value >= threshold)))
    return checks


def verdict(checks: list[Check]) -> dict[str, Any]:
    return {"passed": all(c.passed for c in checks), "checks": [c.as_dict() for c in checks]}


__all__ = [
    "QUALITY_KEYS",
    "SCENARIO_KEYS",
    "Check",
    "GuardrailsError",
    "Thresholds",
    "load_thresholds",
    "quality_checks",
    "verdict",
]

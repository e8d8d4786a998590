"""The knob catalogue: every ranking knob defined once — name, type, default, range, override key.

Resolution order (lowest to highest): catalogue default → environment → namespace config →
segment profile → per-request override. Each layer is validated here, so a bad value is refused
with the knob's name whichever layer it came from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

KnobKind = Literal["float", "int", "bool", "int_list", "float_map", "nested_float_map"]
# Where a knob may be set. "request": anywhere, per request included (overrides, segment
# profiles, bandit policies). "namespace": only in the environment and the namespace config,
# because it changes how a signal is *built*: a per-request value would build a new signal on
# the request path (seconds of work for one request, a stall for every other on that worker).
KnobScope = Literal["request", "namespace"]
NAMESPACE_SETTING = (
    "a namespace setting (it changes how a signal is built): set it in the namespace config, "
    "not per request"
)


class KnobError(ValueError):
    """One or more knob values are invalid; `errors` maps each knob (override key) to why."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class Search:
    """How the tuning tools search a knob: `flag` names its options (`recsys tune --{flag}s
    V1,V2`, `recsys optimize --{flag}-range LOW HIGH`); [low, high] is the range searched when
    none is given; on a "log" scale equal ratios count as equal steps (for knobs whose effect
    is multiplicative, such as a regularisation or a fan-out)."""

    flag: str
    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"

    @property
    def sweep_option(self) -> str:
        return f"--{self.flag}s"

    @property
    def range_option(self) -> str:
        return f"--{self.flag}-range"


@dataclass(frozen=True)
class Knob:
    name: str  # environment variable, e.g. MMR_LAMBDA
    kind: KnobKind
    default: Any
    description: str
    group: str
    minimum: float | None = None
    maximum: float | None = None
    search: Search | None = None  # tunable: the tuning tools search it
    scope: KnobScope = "request"

    @property
    def range_text(self) -> str:
        """The accepted range as people write it (`0 to 1`, `at least 1`), empty when none."""
        if self.kind == "bool" or (self.minimum is None and self.maximum is None):
            return ""
        if self.maximum is None:
            return f"at least {self.minimum:g}"
        if self.minimum is None:
            return f"at most {self.maximum:g}"
        return f"{self.minimum:g} to {self.maximum:g}"

    @property
    def key(self) -> str:
        """Override / config key: the name in lower case (`mmr_lambda`)."""
        return self.name.lower()

    def parse(self, value: Any) -> Any:
        """Validate and normalise one value; raise ValueError with a readable reason."""
        if self.kind == "float":
            number = _number(value)
            self._check_range(number)
            return number
        if self.kind == "int":
            number = _number(value)
            if not float(number).is_integer():
                raise ValueError(f"must be a whole number, got {value!r}")
            self._check_range(number)
            return int(number)
        if self.kind == "bool":
            return _boolean(value)
        if self.kind == "int_list":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple):
                raise ValueError("must be a list of whole numbers")
            parsed = []
            for item in items:
                if isinstance(item, str) and item.strip() == "":
                    continue
                number = _number(item)
                if not float(number).is_integer():
                    raise ValueError(f"must be whole numbers, got {item!r}")
                self._check_range(number)
                parsed.append(int(number))
            return tuple(sorted(set(parsed)))
        if self.kind == "float_map":
            mapping = _mapping(value)
            out = {}
            for k, v in mapping.items():
                number = _number(v)
                self._check_range(number)
                out[str(k)] = number
            return dict(sorted(out.items()))
        if self.kind == "nested_float_map":
            mapping = _mapping(value)
            out_nested: dict[str, dict[str, float]] = {}
            for outer, inner in mapping.items():
                inner_map = _mapping(inner)
                parsed_inner = {}
                for k, v in inner_map.items():
                    number = _number(v)
                    self._check_range(number)
                    parsed_inner[str(k)] = number
                out_nested[str(outer)] = dict(sorted(parsed_inner.items()))
            return dict(sorted(out_nested.items()))
        raise AssertionError(self.kind)

    def _check_range(self, number: float) -> None:
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"must be >= {self.minimum:g}, got {number:g}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"must be <= {self.maximum:g}, got {number:g}")

    def render(self, value: Any) -> str:
        """The value as an environment variable would spell it."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "int_list":
            return ",".join(str(v) for v in value)
        if self.kind in {"float_map", "nested_float_map"}:
            return json.dumps(value, sort_keys=True)
        return f"{value:g}" if isinstance(value, float) else str(value)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError as exc:
            raise ValueError(f"must be a number, got {value!r}") from exc
    else:
        raise ValueError(f"must be a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError("must be finite")
    return int(number) if isinstance(value, int) else number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    raise ValueError(f"must be true or false, got {value!r}")


def _mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError("must be a JSON object") from exc
    if not isinstance(value, Mapping):
        raise ValueError("must be an object")
    return value


def _k(
    name: str,
    kind: KnobKind,
    default: Any,
    group: str,
    description: str,
    minimum: float | None = None,
    maximum: float | None = None,
    search: Search | None = None,
    scope: KnobScope = "request",
) -> Knob:
    return Knob(name, kind, default, description, group, minimum, maximum, search, scope)


KNOBS: tuple[Knob, ...] = (
    # Blend
    _k(
        "BLEND_ALPHA",
        "float",
        0.1,
        "blend",
        "Weight of time-decayed popularity in the blend.",
        0,
        10,
        search=Search("alpha", 0.0, 1.0),
    ),
    _k(
        "BLEND_BETA",
        "float",
        0.1071,
        "blend",
        "Weight of co-visitation with the user's recent items.",
        0,
        10,
        search=Search("beta", 0.0, 1.0),
    ),
    _k(
        "BLEND_GAMMA",
        "float",
        0.0429,
        "blend",
        "Weight of item-vector similarity to the user's recent items.",
        0,
        10,
        search=Search("gamma", 0.0, 1.0),
    ),
    _k(
        "BLEND_DELTA",
        "float",
        0.3,
        "blend",
        "Weight of the learned item-to-item model over the user's whole history.",
        0,
        10,
        search=Search("delta", 0.0, 1.0),
    ),
    _k(
        "BLEND_EPSILON",
        "float",
        0.45,
        "blend",
        "Weight of the user factors: the user's learned taste vector (folded in from their "
        "whole history) against each item's.",
        0,
        10,
        search=Search("epsilon", 0.0, 1.0),
    ),
    # Candidates and signals
    _k(
        "POPULARITY_FANOUT",
        "int",
        500,
        "candidates",
        "Popularity candidates considered per request.",
        1,
        10000,
        search=Search("fanout", 100, 2000, "log"),
    ),
    _k(
        "POPULARITY_HALFLIFE_DAYS",
        "float",
        14.0,
        "signals",
        "Half-life of an event's contribution to popularity.",
        0.01,
        3650,
        scope="namespace",
    ),
    _k(
        "COVIS_WINDOW_DAYS",
        "float",
        30.0,
        "signals",
        "Two events of one user co-visit when at most this far apart; older events are ignored.",
        0.01,
        3650,
        scope="namespace",
    ),
    _k(
        "ITEM_MODEL_L2",
        "float",
        500.0,
        "signals",
        "Regularisation of the item-to-item model: higher = smoother weights, closer to "
        "plain co-occurrence counts.",
        1,
        1e7,
        search=Search("item-model-l2", 10, 10000, "log"),
        scope="namespace",
    ),
    _k(
        "ITEM_MODEL_MAX_ITEMS",
        "int",
        3000,
        "signals",
        "The item-to-item model covers this many of the most interacted items (cost ~ n^3).",
        2,
        20000,
        scope="namespace",
    ),
    _k(
        "USER_FACTORS_DIM",
        "int",
        16,
        "signals",
        "Length of the learned user and item factor vectors (implicit-feedback ALS); 0 turns "
        "the signal off (no fit).",
        0,
        512,
        search=Search("user-factors-dim", 8, 128, "log"),
        scope="namespace",
    ),
    _k(
        "USER_FACTORS_L2",
        "float",
        20.0,
        "signals",
        "Regularisation of the user factors: higher = smoother, closer to popularity.",
        0.01,
        1e5,
        search=Search("user-factors-l2", 1.0, 300.0, "log"),
        scope="namespace",
    ),
    _k(
        "USER_FACTORS_ALPHA",
        "float",
        1.0,
        "signals",
        "Confidence of an observed interaction in the user factors (1 + alpha against 1 for "
        "an item the user never touched): higher = fit the history more tightly.",
        0,
        1000,
        scope="namespace",
    ),
    # Exclusions
    _k(
        "RULE_EXCLUDE_EVENTS",
        "bool",
        True,
        "exclusions",
        "Drop items the user recently had an event of EXCLUDE_EVENT_TYPES on.",
    ),
    _k(
        "EXCLUDE_EVENT_TYPES",
        "int_list",
        (3,),
        "exclusions",
        "Event types (0-4) that exclude an item, e.g. 3 = purchased.",
        0,
        4,
    ),
    _k(
        "PURCHASED_WINDOW_DAYS",
        "float",
        30.0,
        "exclusions",
        "How far back an excluding event counts.",
        0,
        3650,
    ),
    # Diversity
    _k(
        "MMR_LAMBDA",
        "float",
        0.7,
        "diversity",
        "MMR trade-off: 1 = pure relevance, lower = more diverse.",
        0,
        1,
        search=Search("mmr", 0.1, 1.0),
    ),
    _k(
        "MMR_PRESETS",
        "float_map",
        {},
        "diversity",
        'Per-surface MMR_LAMBDA, e.g. {"home": 0.6, "pdp": 0.9}.',
        0,
        1,
    ),
    _k(
        "BRAND_CAP",
        "int",
        0,
        "diversity",
        "At most this many items of one brand per list (0 = no cap).",
        0,
        200,
    ),
    _k(
        "CATEGORY_CAP",
        "int",
        0,
        "diversity",
        "At most this many items of one category per list (0 = no cap).",
        0,
        200,
    ),
    # Personalisation
    _k(
        "PROFILE_BOOST",
        "float",
        0.5,
        "personalisation",
        "Score multiplier 1 + PROFILE_BOOST x overlap(user tag profile, item).",
        0,
        10,
        search=Search("profile-boost", 0.0, 2.0),
    ),
    _k(
        "PROFILE_WINDOW_DAYS",
        "float",
        60.0,
        "personalisation",
        "Events older than this do not shape the user's tag profile.",
        0.01,
        3650,
    ),
    _k("PROFILE_TOP_N", "int", 10, "personalisation", "Tags kept in a user's profile.", 1, 200),
    _k(
        "PROFILE_MIN_EVENTS_FOR_BOOST",
        "int",
        3,
        "personalisation",
        "Below this many events the profile boost is attenuated.",
        0,
        1000,
    ),
    _k(
        "PROFILE_COLD_START_MULTIPLIER",
        "float",
        0.5,
        "personalisation",
        "Attenuation of the profile boost for users below PROFILE_MIN_EVENTS_FOR_BOOST.",
        0,
        1,
    ),
    # Cold start
    _k(
        "PROFILE_STARTER_BLEND_WEIGHT",
        "float",
        0.8,
        "cold_start",
        "Share of the starter profile in a new user's profile.",
        0,
        1,
        search=Search("starter-blend-weight", 0.0, 1.0),
    ),
    _k(
        "PROFILE_STARTER_DECAY_EVENTS",
        "int",
        5,
        "cold_start",
        "The starter profile fades out linearly over this many events.",
        1,
        1000,
    ),
    _k(
        "PROFILE_STARTER_PRESETS",
        "nested_float_map",
        {},
        "cold_start",
        "Segment -> {category or tag: weight} starter profiles; the 'default' entry serves "
        "users without a segment. Empty: the catalogue's most popular categories.",
        0,
        1000,
    ),
    _k(
        "NEW_USER_BLEND_ALPHA",
        "float",
        0.5,
        "cold_start",
        "BLEND_ALPHA for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        0,
        10,
    ),
    _k(
        "NEW_USER_BLEND_BETA",
        "float",
        0.15,
        "cold_start",
        "BLEND_BETA for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        0,
        10,
    ),
    _k(
        "NEW_USER_BLEND_GAMMA",
        "float",
        0.1,
        "cold_start",
        "BLEND_GAMMA for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        0,
        10,
    ),
    _k(
        "NEW_USER_BLEND_DELTA",
        "float",
        0.25,
        "cold_start",
        "BLEND_DELTA for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        0,
        10,
    ),
    _k(
        "NEW_USER_BLEND_EPSILON",
        "float",
        0.0,
        "cold_start",
        "BLEND_EPSILON for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        0,
        10,
    ),
    _k(
        "NEW_USER_POP_FANOUT",
        "int",
        800,
        "cold_start",
        "POPULARITY_FANOUT for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        1,
        10000,
    ),
    _k(
        "NEW_USER_MMR_LAMBDA",
        "float",
        0.5,
        "cold_start",
        "MMR_LAMBDA for new users (fewer events than PROFILE_MIN_EVENTS_FOR_BOOST).",
        0,
        1,
    ),
    # Rules
    _k(
        "RULES_ENABLE",
        "bool",
        True,
        "rules",
        "Kill switch: false ignores every merchandising rule and manual override.",
    ),
    _k("RULES_MAX_PIN_SLOTS", "int", 3, "rules", "At most this many pinned items per list.", 0, 50),
)

KNOBS_BY_KEY: dict[str, Knob] = {knob.key: knob for knob in KNOBS}
# The tuning search space: every knob that declares how it is searched, in catalogue order.
TUNABLE: tuple[Knob, ...] = tuple(knob for knob in KNOBS if knob.search is not None)


@dataclass(frozen=True)
class KnobValues:
    """An immutable, fully resolved set of knob values, read by override key."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def as_dict(self) -> dict[str, Any]:
        return {key: _jsonable(value) for key, value in self.values.items()}

    def with_overrides(self, overrides: Mapping[str, Any]) -> KnobValues:
        """A copy with `overrides` (already validated or raw) applied on top."""
        if not overrides:
            return self
        parsed = parse_overrides(overrides)
        return KnobValues({**self.values, **parsed})


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def parse_overrides(
    overrides: Mapping[str, Any], *, scope: KnobScope = "namespace"
) -> dict[str, Any]:
    """Validate {override_key: value}; raise KnobError listing every unknown key or bad value.
    With `scope="request"` (per-request values: request overrides, segment profiles, bandit
    policies) a namespace-level knob is an error too."""
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for key, value in overrides.items():
        knob = KNOBS_BY_KEY.get(key)
        if knob is None:
            errors[key] = "unknown knob"
            continue
        if scope == "request" and knob.scope == "namespace":
            errors[key] = NAMESPACE_SETTING
            continue
        try:
            parsed[key] = knob.parse(value)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise KnobError(errors)
    return parsed


def defaults() -> KnobValues:
    return KnobValues({knob.key: knob.default for knob in KNOBS})


def from_env(env: Mapping[str, str]) -> KnobValues:
    """Catalogue defaults with any knob set in the environment (by its upper-case name)."""
    raw = {knob.key: env[knob.name] for knob in KNOBS if env.get(knob.name, "").strip() != ""}
    try:
        return defaults().with_overrides(raw)
    except KnobError as exc:
        raise KnobError({k.upper(): v for k, v in exc.errors.items()}) from None


def reference_markdown(knobs: Iterable[Knob] = KNOBS) -> str:
    """docs/env_reference.md, generated: a test fails when the committed file is stale."""
    lines = [
        "# Knob reference",
        "",
        "<!-- Generated from recsys.config.knobs by `recsys knobs --markdown`; do not edit. -->",
        "",
        "Every ranking knob, defined once in `recsys.config.knobs`. A value is resolved from, in",
        "order of precedence: the request's `overrides` (by the *override key*), the matching",
        "segment profile, the namespace config, the environment variable, the default.",
        "Out-of-range values and unknown keys are refused with `422` naming the knob.",
        "",
        "*Set per*: a `request` knob may be set anywhere, a request's `overrides`, a segment",
        "profile and a bandit policy included. A `namespace` knob changes how a signal is built",
        "(popularity's half-life, the co-visitation window, the item model): it is set in the",
        "environment or the namespace config only, and a request, segment profile or bandit",
        "policy that sets it is refused with `422` naming the knob, so that no request ever",
        "builds a signal on the request path.",
        "",
    ]
    group = None
    for knob in knobs:
        if knob.group != group:
            group = knob.group
            lines += [
                f"## {group.replace('_', ' ').capitalize()}",
                "",
                "| variable | override key | type | default | range | set per | meaning |",
                "|---|---|---|---|---|---|---|",
            ]
        span = knob.range_text
        default = knob.render(knob.default).replace("|", "\\|") or "(empty)"
        lines.append(
            f"| `{knob.name}` | `{knob.key}` | {knob.kind} | `{default}` | {span} "
            f"| {knob.scope} | {knob.description} |"
        )
    lines += [
        "## Tuning search space",
        "",
        "The knobs the tuning tools search. `recsys tune` sweeps the values given to each knob's",
        "sweep option (comma-separated; a knob not given keeps its default); `recsys optimize`",
        "searches each knob's range option (default: the search range below), on the knob's",
        "scale (log: equal ratios are equal steps); the quality benchmark's tuned row samples",
        "the same ranges.",
        "",
        "| override key | default | search range | scale | `recsys tune` | `recsys optimize` |",
        "|---|---|---|---|---|---|",
    ]
    for knob in knobs:
        if knob.search is not None:
            found = knob.search
            lines.append(
                f"| `{knob.key}` | `{knob.render(knob.default)}` | {found.low:g} to "
                f"{found.high:g} | {found.scale} | `{found.sweep_option}` "
                f"| `{found.range_option}` |"
            )
    # A blank line closes each table before the next heading.
    return "\n".join(lines).replace("|\n## ", "|\n\n## ") + "\n"


__all__ = [
    "KNOBS",
    "KNOBS_BY_KEY",
    "NAMESPACE_SETTING",
    "TUNABLE",
    "Knob",
    "KnobError",
    "KnobScope",
    "KnobValues",
    "Search",
    "defaults",
    "from_env",
    "parse_overrides",
    "reference_markdown",
]

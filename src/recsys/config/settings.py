"""Settings read from the environment once, in the app factory or the CLI — never at import."""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from recsys.bandit import ALGORITHMS, DEFAULT_ALGORITHM, Algorithm
from recsys.config.knobs import KnobError, KnobValues
from recsys.config.knobs import defaults as knob_defaults
from recsys.config.knobs import from_env as knobs_from_env
from recsys.signals.event_types import TYPE_NAMES

DEFAULT_DATABASE_URL = "sqlite:///./var/recsys.db"
MAX_BODY_BYTES = 16 * 1024 * 1024


# view, click, add, purchase, custom: a view says nothing about a list's quality.
DEFAULT_EVENT_REWARDS = (0.0, 0.3, 0.6, 1.0, 0.0)

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""


class Secret:
    """Wraps a secret so that printing, logging or repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def hash_api_key(key: str) -> str:
    """Keys are kept only as SHA-256 digests, so a memory dump or a log never holds one."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """One API key, stored hashed, and the orgs it may act for (`None` = every org)."""

    key_hash: str
    allowed_orgs: frozenset[str] | None

    def allows(self, org_id: str) -> bool:
        return self.allowed_orgs is None or org_id in self.allowed_orgs


def parse_api_keys(spec: str) -> tuple[ApiKey, ...]:
    """Parse `key1:<org>|<org>,key2:*` into hashed keys; raise SettingsError on a bad entry."""
    keys: list[ApiKey] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, sep, orgs = entry.partition(":")
        key = key.strip()
        if not sep or not key or not orgs.strip():
            # Do not echo the entry: it holds a secret.
            raise SettingsError(
                f"API_AUTH_KEYS entry #{len(keys) + 1} is not 'key:org|org' or 'key:*'"
            )
        orgs = orgs.strip()
        if orgs == "*":
            allowed: frozenset[str] | None = None
        else:
            parsed: set[str] = set()
            for org in orgs.split("|"):
                try:
                    parsed.add(str(uuid.UUID(org.strip())))
                except ValueError as exc:
                    raise SettingsError(
                        f"API_AUTH_KEYS entry #{len(keys) + 1} names an org that is not a UUID"
                    ) from exc
            allowed = frozenset(parsed)
        keys.append(ApiKey(key_hash=hash_api_key(key), allowed_orgs=allowed))
    return tuple(keys)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _number(env, name, float(default), minimum=1.0)
    if not value.is_integer():
        raise SettingsError(f"{name} must be a whole number, got {value:g}")
    return int(value)


def _event_rewards(env: Mapping[str, str], name: str) -> tuple[float, ...]:
    """`click=0.3,purchase=1`: the reward per event type; types not named give none."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return DEFAULT_EVENT_REWARDS
    rewards = [0.0] * len(TYPE_NAMES)
    for entry in raw.split(","):
        type_name, sep, weight = entry.strip().partition("=")
        if not sep or type_name.strip() not in TYPE_NAMES:
            raise SettingsError(
                f"{name} entries are <type>=<reward> with type one of {', '.join(TYPE_NAMES)}, "
                f"got {entry.strip()!r}"
            )
        try:
            value = float(weight)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:
            raise SettingsError(f"{name}: the reward for {type_name.strip()} must be 0 to 1")
        rewards[TYPE_NAMES.index(type_name.strip())] = value
    return tuple(rewards)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value > 1.0:
        raise SettingsError(f"{name} must be between 0 and 1, got {value:g}")
    return value


def _algorithm(env: Mapping[str, str], name: str) -> Algorithm:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return DEFAULT_ALGORITHM
    value = raw.strip().lower()
    for algorithm in ALGORITHMS:
        if value == algorithm:
            return algorithm
    raise SettingsError(f"{name} must be one of {', '.join(ALGORITHMS)}, got {raw!r}")


def _percent(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if not 0.0 <= value <= 100.0:  # also refuses NaN
        raise SettingsError(f"{name} must be between 0 and 100, got {value:g}")
    return value


MAX_SURFACE_CHARS = 64


def _surfaces(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list; blanks are skipped, so an empty value means "none listed"."""
    surfaces = sorted({part.strip() for part in env.get(name, "").split(",") if part.strip()})
    for surface in surfaces:
        if len(surface) > MAX_SURFACE_CHARS:
            raise SettingsError(f"{name}: surface {surface[:20]!r}... exceeds 64 characters")
    return tuple(surfaces)


def _label(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if len(value) > 64 or not value.isprintable():
        raise SettingsError(f"{name} must be 1-64 printable characters, got {value[:80]!r}")
    return value


def _knobs(env: Mapping[str, str]) -> KnobValues:
    try:
        return knobs_from_env(env)
    except KnobError as exc:
        raise SettingsError(f"bad ranking knob in the environment: {exc}") from None


DEFAULT_SNAPSHOT_DIR = "./var/snapshots"


def _snapshot_dir(env: Mapping[str, str]) -> str | None:
    """RECSYS_SNAPSHOT_DIR: a directory (shared between hosts that share a database), or "off"
    to keep no artifacts."""
    value = env.get("RECSYS_SNAPSHOT_DIR", DEFAULT_SNAPSHOT_DIR).strip()
    return None if value.lower() in ("", "off", "none") else value


DEFAULT_FIRST_BUILD_WAIT_S = 1.0


def _first_build_wait(env: Mapping[str, str]) -> float | None:
    """RECSYS_FIRST_BUILD_WAIT_S: seconds a namespace's first request waits for its complete
    signals before it is answered from partial ones with a warning; "off" waits for them."""
    name = "RECSYS_FIRST_BUILD_WAIT_S"
    raw = env.get(name, "").strip().lower()
    if raw in ("off", "none"):
        return None
    value = _number(env, name, DEFAULT_FIRST_BUILD_WAIT_S)
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number of seconds or off, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the process needs to know about its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    auth_enabled: bool = False
    api_keys: tuple[ApiKey, ...] = ()
    rate_limit_rpm: float = 0.0  # 0 disables the limiter
    rate_limit_burst: float = 0.0  # 0 means "one minute's worth"
    rate_limit_max_keys: int = 10_000  # buckets kept per process; the oldest go first
    git_commit: str | None = None
    build_time: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    auto_migrate: bool = True
    knobs: KnobValues = field(default_factory=knob_defaults)
    audit_sample: float = 1.0  # share of decisions recorded in the audit log
    audit_retention_days: float = 90.0  # older audit records are purged; 0 keeps them forever
    long_tail_head_share: float = 0.2  # the most popular 20% of items are the head
    bandit_algo: Algorithm = DEFAULT_ALGORITHM  # when a bandit request names none
    bandit_experiment_enabled: bool = False  # the holdout experiment runs
    bandit_experiment_holdout_percent: float = 10.0  # share of users (0-100) held out
    bandit_experiment_surfaces: tuple[str, ...] = ()  # where it runs; empty = every surface
    bandit_experiment_label: str = "holdout"  # names the experiment in responses and decisions
    # Reward a bandit decision gets from an event that names it (meta.decision_id), by event type
    # code (view, click, add, purchase, custom); 0 gives none.
    bandit_event_rewards: tuple[float, ...] = DEFAULT_EVENT_REWARDS
    # An event with no decision id rewards the user's latest bandit recommendation that served
    # its item this many seconds before it at most (0: only events naming a decision reward).
    bandit_reward_window_s: float = 1800.0
    log_level: str = "info"  # recsys serve's loggers (ours and uvicorn's)
    log_format: LogFormat = "text"  # or "json": one object per line
    access_log: bool = False  # one line per request
    # Where `recsys serve`'s workers keep their metric values (None: a fresh temporary folder).
    metrics_dir: str | None = None
    # Where snapshot artifacts are written and mapped (None: not kept; every process builds).
    snapshot_dir: str | None = None
    # How long a namespace's first request waits for its complete signals (None: until built).
    first_build_wait_s: float | None = None
    # The tuning run folders the console lists (each summary.json names its org).
    tuning_runs_dir: str = "analysis/results/tuning_runs"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        auth_enabled = _bool(env, "API_AUTH_ENABLED", False)
        keys = parse_api_keys(env.get("API_AUTH_KEYS", ""))
        if auth_enabled and not keys:
            raise SettingsError("API_AUTH_ENABLED=true needs API_AUTH_KEYS")
        return cls(
            database_url=env.get("RECSYS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            auth_enabled=auth_enabled,
            api_keys=keys,
            rate_limit_rpm=_number(env, "API_RATE_LIMIT_RPM", 0.0),
            rate_limit_burst=_number(env, "API_RATE_LIMIT_BURST", 0.0),
            rate_limit_max_keys=_positive_int(env, "API_RATE_LIMIT_MAX_KEYS", 10_000),
            log_level=_choice(env, "RECSYS_LOG_LEVEL", LOG_LEVELS, "info"),
            log_format=cast(LogFormat, _choice(env, "RECSYS_LOG_FORMAT", LOG_FORMATS, "text")),
            access_log=_bool(env, "RECSYS_ACCESS_LOG", False),
            metrics_dir=env.get("RECSYS_METRICS_DIR") or None,
            tuning_runs_dir=env.get("RECSYS_TUNING_RUNS_DIR") or "analysis/results/tuning_runs",
            git_commit=env.get("RECSYS_GIT_COMMIT") or None,
            build_time=env.get("RECSYS_BUILD_TIME") or None,
            auto_migrate=_bool(env, "RECSYS_AUTO_MIGRATE", True),
            knobs=_knobs(env),
            audit_sample=_share(env, "AUDIT_DECISIONS_SAMPLE", 1.0),
            audit_retention_days=_number(env, "AUDIT_DECISIONS_RETENTION_DAYS", 90.0),
            long_tail_head_share=_share(env, "COVERAGE_LONG_TAIL_HINT_THRESHOLD", 0.2),
            bandit_algo=_algorithm(env, "BANDIT_ALGO"),
            bandit_experiment_enabled=_bool(env, "BANDIT_EXPERIMENT_ENABLED", False),
            bandit_experiment_holdout_percent=_percent(
                env, "BANDIT_EXPERIMENT_HOLDOUT_PERCENT", 10.0
            ),
            bandit_experiment_surfaces=_surfaces(env, "BANDIT_EXPERIMENT_SURFACES"),
            bandit_experiment_label=_label(env, "BANDIT_EXPERIMENT_LABEL", "holdout"),
            bandit_event_rewards=_event_rewards(env, "BANDIT_EVENT_REWARDS"),
            bandit_reward_window_s=_number(env, "BANDIT_REWARD_WINDOW_S", 1800.0),
            snapshot_dir=_snapshot_dir(env),
            first_build_wait_s=_first_build_wait(env),
        )

"""The segment rule language: JSON predicates over ``user.traits.*``, ``ctx.*`` and ``request.*``.

A pure module: no database, no clock, no global state. Anything time-dependent takes ``now``.

A rule is a JSON object with exactly one operator key:

* ``{"all": [rule, ...]}``, ``{"any": [rule, ...]}`` -- non-empty lists of rules;
* ``{"not": rule}``;
* ``{"eq" | "neq" | "gt" | "gte" | "lt" | "lte": [path, literal]}``;
* ``{"in": [path, [literal, ...]]}``;
* ``{"contains": [path, literal]}`` -- the value is a list holding the literal, or a string
  holding the (string) literal as a substring;
* ``{"exists": path}`` -- the path resolves to a non-null value (``""``, ``0``, ``false`` and
  ``[]`` all exist);
* ``{"days_since": [path, comparator, number]}`` -- the value is an RFC 3339 timestamp (or epoch
  seconds) and the whole days elapsed until ``now`` are compared, e.g.
  ``{"days_since": ["user.traits.signup_at", "<=", 7]}``.

Paths are dotted strings under ``user.traits.``, ``ctx.`` or ``request.``; they are looked up in
the environment made by :func:`build_env`, walking nested objects one segment at a time. A
missing path resolves to ``None``.

Comparison semantics (every comparison, ``neq`` included, is false rather than an error when it
cannot be made):

* a ``None`` (missing or null) value compares false with everything, so ``neq`` on a missing
  path is false -- write ``{"not": {"eq": ...}}`` to include users without the trait;
* numbers (``int``/``float``, never ``bool``) compare numerically, so ``1 == 1.0``;
* strings compare with strings (ordering by code point), booleans only with booleans
  (equality only);
* anything else -- ``"1"`` against ``1``, a list against a scalar -- is incomparable: false.

Literals are strings, finite numbers or booleans (ordering operators: strings or numbers).
Nesting is limited to :data:`MAX_DEPTH` rule levels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeGuard

MAX_DEPTH = 16
"""Deepest allowed rule nesting; a bare comparison is depth 1, ``{"not": leaf}`` depth 2."""

PATH_PREFIXES = ("user.traits.", "ctx.", "request.")
COMPARATORS = ("<", "<=", ">", ">=", "==", "!=")

_BOOLEAN_OPS = frozenset({"all", "any"})
_EQUALITY_OPS = frozenset({"eq", "neq", "contains"})
_ORDERING_OPS = frozenset({"gt", "gte", "lt", "lte"})
OPERATORS = frozenset(
    {*_BOOLEAN_OPS, "not", *_EQUALITY_OPS, *_ORDERING_OPS, "in", "exists", "days_since"}
)

_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


class RuleSyntaxError(ValueError):
    """A rule is malformed; the message names each JSON location, e.g.
    ``rules[0].rule.all[1].eq: expected [path, value]``."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems: tuple[str, ...] = problems


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _path_problem(path: object, loc: str) -> str | None:
    if not isinstance(path, str):
        return f"{loc}: expected a path string, got {_type_name(path)}"
    if not path.startswith(PATH_PREFIXES):
        return f"{loc}: path {path!r} must start with 'user.traits.', 'ctx.' or 'request.'"
    if "" in path.split("."):
        return f"{loc}: path {path!r} has an empty segment"
    return None


def _literal_problem(value: object, loc: str, *, ordered: bool) -> str | None:
    if ordered:
        ok = isinstance(value, str) or _is_number(value)
        wanted = "a string or a number"
    else:
        ok = isinstance(value, str | bool) or _is_number(value)
        wanted = "a string, a number or a boolean"
    if not ok:
        return f"{loc}: expected {wanted}, got {_type_name(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{loc}: expected a finite number, got {value!r}"
    return None


def _node_problems(rule: object, where: str) -> tuple[list[str], list[tuple[object, str]]]:
    """Check one rule node (not its children); return its problems and its (child, where)s."""
    if not isinstance(rule, Mapping):
        return [f"{where}: expected an object with one operator key, got {_type_name(rule)}"], []
    if len(rule) != 1:
        if not rule:
            return [f"{where}: expected exactly one operator key, got none"], []
        keys = ", ".join(sorted(repr(key) for key in rule))
        return [f"{where}: expected exactly one operator key, got {len(rule)} ({keys})"], []
    ((op, arg),) = rule.items()
    if op not in OPERATORS:
        return [f"{where}: unknown operator {op!r}"], []

    loc = f"{where}.{op}"
    found: list[str | None] = []
    children: list[tuple[object, str]] = []
    if op in _BOOLEAN_OPS:
        if not _is_list(arg):
            found.append(f"{loc}: expected a non-empty list of rules, got {_type_name(arg)}")
        elif not arg:
            found.append(f"{loc}: expected a non-empty list of rules, got an empty list")
        else:
            children = [(child, f"{loc}[{i}]") for i, child in enumerate(arg)]
    elif op == "not":
        children = [(arg, loc)]
    elif op == "exists":
        found.append(_path_problem(arg, loc))
    elif op == "in":
        if not _is_list(arg) or len(arg) != 2:
            found.append(f"{loc}: expected [path, [values...]]")
        else:
            found.append(_path_problem(arg[0], f"{loc}[0]"))
            if not _is_list(arg[1]):
                found.append(f"{loc}[1]: expected a list of values, got {_type_name(arg[1])}")
            else:
                found.extend(
                    _literal_problem(item, f"{loc}[1][{i}]", ordered=False)
                    for i, item in enumerate(arg[1])
                )
    elif op == "days_since":
        if not _is_list(arg) or len(arg) != 3:
            found.append(f"{loc}: expected [path, comparator, number]")
        else:
            found.append(_path_problem(arg[0], f"{loc}[0]"))
            if not isinstance(arg[1], str) or arg[1] not in COMPARATORS:
                choices = ", ".join(repr(c) for c in COMPARATORS)
                found.append(f"{loc}[1]: comparator must be one of {choices}, got {arg[1]!r}")
            if not _is_number(arg[2]) or not math.isfinite(arg[2]):
                found.append(f"{loc}[2]: expected a finite number of days, got {arg[2]!r}")
    else:  # eq, neq, contains, gt, gte, lt, lte
        if not _is_list(arg) or len(arg) != 2:
            found.append(f"{loc}: expected [path, value]")
        else:
            found.append(_path_problem(arg[0], f"{loc}[0]"))
            found.append(_literal_problem(arg[1], f"{loc}[1]", ordered=op in _ORDERING_OPS))
    return [problem for problem in found if problem is not None], children


def _collect(rule: object, where: str, depth: int, out: list[str]) -> None:
    if depth > MAX_DEPTH:
        out.append(f"{where}: nesting deeper than {MAX_DEPTH} levels")
        return
    problems, children = _node_problems(rule, where)
    out.extend(problems)
    for child, child_where in children:
        _collect(child, child_where, depth + 1, out)


def validate_rule(rule: object, *, where: str = "rule") -> list[str]:
    """Every problem in ``rule`` as ``"<location>: <problem>"``, locations rooted at ``where``.

    Returns ``[]`` for a valid rule. Never raises, whatever ``rule`` is.
    """
    problems: list[str] = []
    _collect(rule, where, 1, problems)
    return problems


def check_rule(rule: object, *, where: str = "rule") -> None:
    """Raise :class:`RuleSyntaxError` listing every problem in ``rule``; return if it is valid."""
    problems = validate_rule(rule, where=where)
    if problems:
        raise RuleSyntaxError(*problems)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _resolve(env: object, path: str) -> Any:
    current: Any = env
    for key in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _equal(left: object, right: object) -> bool:
    if left is None or right is None:
        return False
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, bool) and isinstance(right, bool):
        return left is right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return False


def _comparable(left: object, right: object) -> bool:
    """Both non-null and of one kind: number/number, string/string or boolean/boolean."""
    if _is_number(left):
        return _is_number(right)
    return (isinstance(left, str) and isinstance(right, str)) or (
        isinstance(left, bool) and isinstance(right, bool)
    )


def _ordered(left: object, right: object, compare: Callable[[Any, Any], bool]) -> bool:
    if (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    ):
        return bool(compare(left, right))
    return False


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 string or epoch seconds as an aware datetime; ``None`` if it is neither.

    Strings must carry a full date, time and offset (``Z`` or ``+hh:mm``); a leap second
    (``:60``) is read as ``:59``. Aware ``datetime`` objects pass through. Never raises.
    """
    try:
        if isinstance(value, datetime):
            return value if value.utcoffset() is not None else None
        if _is_number(value):
            return _EPOCH + timedelta(seconds=value)
        if not isinstance(value, str):
            return None
        match = _RFC3339.fullmatch(value)
        if match is None:
            return None
        year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
        fraction, zulu, sign, off_hours, off_minutes = match.group(7, 8, 9, 10, 11)
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        if zulu:
            tz = UTC
        else:
            if int(off_hours) > 23 or int(off_minutes) > 59:
                return None
            offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
            tz = timezone(-offset if sign == "-" else offset)
        if second == 60:  # leap second
            second = 59
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def days_between(then: datetime, now: datetime) -> int:
    """Whole days elapsed from ``then`` to ``now``: ``floor((now - then) / 24h)``.

    Negative when ``then`` is in the future (one second ahead is day ``-1``).
    """
    return (now - then) // _DAY


def _require_aware(now: datetime) -> None:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _eval(rule: object, env: Mapping[str, Any], now: datetime, where: str, depth: int) -> bool:
    if depth > MAX_DEPTH:
        raise RuleSyntaxError(f"{where}: nesting deeper than {MAX_DEPTH} levels")
    problems, _ = _node_problems(rule, where)
    if problems:
        raise RuleSyntaxError(*problems)
    assert isinstance(rule, Mapping)
    ((op, arg),) = rule.items()
    loc = f"{where}.{op}"

    if op == "all":
        return all(_eval(r, env, now, f"{loc}[{i}]", depth + 1) for i, r in enumerate(arg))
    if op == "any":
        return any(_eval(r, env, now, f"{loc}[{i}]", depth + 1) for i, r in enumerate(arg))
    if op == "not":
        return not _eval(arg, env, now, loc, depth + 1)
    if op == "exists":
        return _resolve(env, arg) is not None

    value = _resolve(env, arg[0])
    if value is None:
        return False
    if op == "eq":
        return _equal(value, arg[1])
    if op == "neq":
        return _comparable(value, arg[1]) and not _equal(value, arg[1])
    if op in _ORDERINGS:
        return _ordered(value, arg[1], _ORDERINGS[op])
    if op == "in":
        return any(_equal(value, literal) for literal in arg[1])
    if op == "contains":
        if isinstance(value, str):
            return isinstance(arg[1], str) and arg[1] in value
        if _is_list(value):
            return any(_equal(item, arg[1]) for item in value)
        return False
    # days_since
    then = parse_timestamp(value)
    if then is None:
        return False
    return bool(_COMPARE[arg[1]](days_between(then, now), arg[2]))


def evaluate(rule: Mapping[str, Any], env: Mapping[str, Any], *, now: datetime) -> bool:
    """Whether ``rule`` holds in ``env`` (see :func:`build_env`) at ``now``.

    Assumes a rule that passed :func:`validate_rule`; never raises on data in ``env``. A
    malformed rule raises :class:`RuleSyntaxError` naming the bad node (only nodes actually
    visited are checked) instead of evaluating to a guess. ``now`` must be timezone-aware
    (:class:`ValueError` otherwise).
    """
    _require_aware(now)
    return _eval(rule, env, now, "rule", 1)


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRule:
    """One rule of a segment; a disabled rule is ignored (neither true nor false)."""

    rule: Mapping[str, Any]
    enabled: bool = True


@dataclass(frozen=True)
class Segment:
    """A named, prioritised set of rules, all of which must hold for a user to be in it."""

    segment_id: str
    name: str = ""
    priority: int = 0
    active: bool = True
    profile_id: str | None = None
    rules: tuple[SegmentRule, ...] = ()


@dataclass(frozen=True)
class DryRunResult:
    """Every matching segment id, highest priority first, and the one that would be chosen."""

    matched: tuple[str, ...]
    chosen: str | None


def validate_segment(segment: Segment) -> list[str]:
    """Every problem in the segment's rules (enabled or not), located as ``rules[i].rule...``."""
    problems: list[str] = []
    for i, segment_rule in enumerate(segment.rules):
        problems.extend(validate_rule(segment_rule.rule, where=f"rules[{i}].rule"))
    return problems


def _matches(segment: Segment, env: Mapping[str, Any], now: datetime) -> bool:
    if not segment.active:
        return False
    enabled = [(i, r.rule) for i, r in enumerate(segment.rules) if r.enabled]
    if not enabled:
        return False
    try:
        return all(_eval(rule, env, now, f"rules[{i}].rule", 1) for i, rule in enabled)
    except RuleSyntaxError as error:
        raise RuleSyntaxError(
            *(f"segment {segment.segment_id!r}: {problem}" for problem in error.problems)
        ) from None


def matches(segment: Segment, env: Mapping[str, Any], *, now: datetime) -> bool:
    """Whether ``env`` is in ``segment`` at ``now``: it is active and every enabled rule holds.

    A segment with no enabled rules matches nobody: an empty rule list is far more likely a
    half-built or switched-off segment than a deliberate "everyone", so it fails closed.
    Malformed rules raise :class:`RuleSyntaxError` naming the segment and the location.
    """
    _require_aware(now)
    return _matches(segment, env, now)


def _by_priority(segment: Segment) -> tuple[int, str]:
    return (-segment.priority, segment.segment_id)


def _matching(segments: Iterable[Segment], env: Mapping[str, Any], now: datetime) -> list[Segment]:
    _require_aware(now)
    return sorted((s for s in segments if _matches(s, env, now)), key=_by_priority)


def choose_segment(
    segments: Iterable[Segment], env: Mapping[str, Any], *, now: datetime
) -> Segment | None:
    """The highest-priority matching segment, ties broken by ``segment_id`` ascending; or None."""
    found = _matching(segments, env, now)
    return found[0] if found else None


def dry_run(segments: Iterable[Segment], env: Mapping[str, Any], *, now: datetime) -> DryRunResult:
    """Which segments ``env`` matches (priority order) and which :func:`choose_segment` picks."""
    found = _matching(segments, env, now)
    return DryRunResult(
        matched=tuple(s.segment_id for s in found),
        chosen=found[0].segment_id if found else None,
    )


def build_env(
    *,
    traits: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    request: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The evaluation environment ``{"user": {"traits": ...}, "ctx": ..., "request": ...}``.

    ``None`` becomes an empty object; the mappings are copied (shallowly).
    """
    return {
        "user": {"traits": dict(traits or {})},
        "ctx": dict(context or {}),
        "request": dict(request or {}),
    }


__all__ = [
    "COMPARATORS",
    "MAX_DEPTH",
    "OPERATORS",
    "PATH_PREFIXES",
    "DryRunResult",
    "RuleSyntaxError",
    "Segment",
    "SegmentRule",
    "build_env",
    "check_rule",
    "choose_segment",
    "days_between",
    "dry_run",
    "evaluate",
    "matches",
    "parse_timestamp",
    "validate_rule",
    "validate_segment",
]

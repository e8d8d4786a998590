"""The segment rule language: operators, paths, types, days_since, validation, segment choice."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.policy.segments import (
    COMPARATORS,
    MAX_DEPTH,
    OPERATORS,
    DryRunResult,
    RuleSyntaxError,
    Segment,
    SegmentRule,
    build_env,
    check_rule,
    choose_segment,
    days_between,
    dry_run,
    evaluate,
    matches,
    parse_timestamp,
    validate_rule,
    validate_segment,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NOW_EPOCH = int(NOW.timestamp())
DAY = 86_400

ENV = build_env(
    traits={
        "segment": "beta",
        "age": 30,
        "score": 2.5,
        "flag": True,
        "vip": False,
        "empty": "",
        "nothing": None,
        "tags": ["a", "b", 1],
        "bio": "loves hiking",
        "nested": {"level": {"deep": 7, "name": "x"}},
        "signup_at": "2026-11-19T12:00:00Z",
    },
    context={"surface": "home", "hour": 9},
    request={"locale": "fr-FR", "n": 10},
)


def ev(rule: dict[str, Any], env: dict[str, Any] = ENV, now: datetime = NOW) -> bool:
    return evaluate(rule, env, now=now)


# --------------------------------------------------------------------------------------------
# Operators: each one true and false
# --------------------------------------------------------------------------------------------

OPERATOR_CASES: list[tuple[dict[str, Any], bool]] = [
    # eq
    ({"eq": ["user.traits.segment", "beta"]}, True),
    ({"eq": ["user.traits.segment", "alpha"]}, False),
    ({"eq": ["user.traits.age", 30.0]}, True),
    ({"eq": ["user.traits.age", "30"]}, False),
    ({"eq": ["user.traits.flag", True]}, True),
    ({"eq": ["user.traits.flag", 1]}, False),
    ({"eq": ["user.traits.vip", 0]}, False),
    ({"eq": ["ctx.surface", "home"]}, True),
    ({"eq": ["request.locale", "fr-FR"]}, True),
    # neq
    ({"neq": ["user.traits.segment", "alpha"]}, True),
    ({"neq": ["user.traits.segment", "beta"]}, False),
    ({"neq": ["user.traits.age", 31]}, True),
    ({"neq": ["user.traits.age", 30.0]}, False),
    ({"neq": ["user.traits.flag", False]}, True),
    ({"neq": ["user.traits.age", "31"]}, False),  # incomparable -> false
    ({"neq": ["user.traits.missing", "x"]}, False),  # None -> false
    # gt / gte / lt / lte
    ({"gt": ["user.traits.age", 29]}, True),
    ({"gt": ["user.traits.age", 30]}, False),
    ({"gt": ["user.traits.score", 2]}, True),
    ({"gte": ["user.traits.age", 30]}, True),
    ({"gte": ["user.traits.age", 30.5]}, False),
    ({"lt": ["user.traits.age", 31]}, True),
    ({"lt": ["user.traits.age", 30]}, False),
    ({"lte": ["user.traits.age", 30]}, True),
    ({"lte": ["user.traits.age", 29.9]}, False),
    ({"gt": ["user.traits.segment", "alpha"]}, True),
    ({"lt": ["user.traits.segment", "alpha"]}, False),
    ({"gte": ["request.locale", "fr-FR"]}, True),
    ({"lte": ["request.locale", "fr-AA"]}, False),
    # in
    ({"in": ["ctx.surface", ["home", "pdp"]]}, True),
    ({"in": ["ctx.surface", ["cart", "pdp"]]}, False),
    ({"in": ["user.traits.age", [1, 30.0]]}, True),
    ({"in": ["user.traits.age", ["30"]]}, False),
    ({"in": ["user.traits.flag", [1, True]]}, True),
    ({"in": ["user.traits.flag", [1]]}, False),
    ({"in": ["ctx.surface", []]}, False),
    # contains
    ({"contains": ["user.traits.tags", "a"]}, True),
    ({"contains": ["user.traits.tags", "z"]}, False),
    ({"contains": ["user.traits.tags", 1.0]}, True),
    ({"contains": ["user.traits.tags", "1"]}, False),
    ({"contains": ["user.traits.bio", "hik"]}, True),
    ({"contains": ["user.traits.bio", "swim"]}, False),
    ({"contains": ["user.traits.bio", ""]}, True),
    # exists
    ({"exists": "user.traits.segment"}, True),
    ({"exists": "user.traits.vip"}, True),  # false is a value
    ({"exists": "user.traits.empty"}, True),  # so is ""
    ({"exists": "user.traits.nothing"}, False),  # null is not
    ({"exists": "user.traits.missing"}, False),
    ({"exists": "ctx.hour"}, True),
    ({"exists": "request.missing"}, False),
    # days_since (signup 7 days before NOW)
    ({"days_since": ["user.traits.signup_at", "<=", 7]}, True),
    ({"days_since": ["user.traits.signup_at", "<", 7]}, False),
    # not
    ({"not": {"exists": "user.traits.missing"}}, True),
    ({"not": {"eq": ["user.traits.segment", "beta"]}}, False),
    # all
    ({"all": [{"eq": ["user.traits.segment", "beta"]}, {"gt": ["user.traits.age", 18]}]}, True),
    ({"all": [{"eq": ["user.traits.segment", "beta"]}, {"gt": ["user.traits.age", 40]}]}, False),
    ({"all": [{"exists": "ctx.hour"}]}, True),
    # any
    ({"any": [{"eq": ["user.traits.segment", "x"]}, {"gt": ["user.traits.age", 18]}]}, True),
    ({"any": [{"eq": ["user.traits.segment", "x"]}, {"gt": ["user.traits.age", 40]}]}, False),
    # the examples from the brief
    (
        {
            "all": [
                {"in": ["ctx.surface", ["home", "pdp"]]},
                {"not": {"exists": "user.traits.missing"}},
            ]
        },
        True,
    ),
    (
        {
            "all": [
                {"in": ["ctx.surface", ["home", "pdp"]]},
                {"not": {"exists": "user.traits.vip"}},
            ]
        },
        False,
    ),
]


@pytest.mark.parametrize(("rule", "expected"), OPERATOR_CASES, ids=str)
def test_operator(rule: dict[str, Any], expected: bool) -> None:
    assert validate_rule(rule) == []
    assert ev(rule) is expected


def test_every_operator_is_covered_both_ways() -> None:
    seen: dict[str, set[bool]] = {}
    for rule, expected in OPERATOR_CASES:
        (op,) = rule
        seen.setdefault(op, set()).add(expected)
    ops = {"all", "any", "not", "eq", "neq", "gt", "gte", "lt", "lte", "in", "contains"}
    for op in ops | {"exists", "days_since"}:
        assert seen.get(op) == {True, False}, op


def test_all_and_any_short_circuit_on_nesting() -> None:
    inner = {"any": [{"eq": ["ctx.surface", "pdp"]}, {"all": [{"exists": "ctx.hour"}]}]}
    assert ev({"all": [inner, {"not": {"not": inner}}]}) is True
    assert ev({"not": {"all": [inner, {"eq": ["ctx.hour", 10]}]}}) is True


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


def test_nested_paths_walk_objects() -> None:
    assert ev({"eq": ["user.traits.nested.level.deep", 7]}) is True
    assert ev({"eq": ["user.traits.nested.level.name", "x"]}) is True
    assert ev({"exists": "user.traits.nested.level"}) is True
    assert ev({"exists": "user.traits.nested.level.nope"}) is False
    assert ev({"exists": "user.traits.nested.nope.deep"}) is False


@pytest.mark.parametrize(
    "path",
    [
        "user.traits.missing",
        "user.traits.nothing",  # null
        "user.traits.segment.inner",  # through a string
        "user.traits.tags.0",  # lists are not walked
        "user.traits.age.x",  # through a number
        "user.traits.nothing.x",  # through null
        "ctx.missing.deeper",
        "request.nope",
    ],
)
def test_unresolvable_paths_are_none_and_every_comparison_is_false(path: str) -> None:
    for rule in (
        {"eq": [path, "x"]},
        {"neq": [path, "x"]},
        {"gt": [path, 0]},
        {"lte": [path, 0]},
        {"in": [path, ["x", 0]]},
        {"contains": [path, "x"]},
        {"exists": path},
        {"days_since": [path, ">=", 0]},
    ):
        assert ev(rule) is False, rule
        assert ev({"not": rule}) is True, rule


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"user": None, "ctx": None, "request": None},
        {"user": {"traits": None}},
        {"user": "someone", "ctx": [1, 2]},
        {"user": {"traits": ["a"]}},
        build_env(traits=None, context=None, request=None),
    ],
)
def test_degenerate_environments_do_not_raise(env: dict[str, Any]) -> None:
    assert ev({"eq": ["user.traits.segment", "beta"]}, env) is False
    assert ev({"exists": "ctx.surface"}, env) is False
    assert ev({"not": {"exists": "request.locale"}}, env) is True


def test_build_env_shape_and_copies() -> None:
    traits = {"a": 1}
    env = build_env(traits=traits, context={"surface": "home"}, request=None)
    assert env == {"user": {"traits": {"a": 1}}, "ctx": {"surface": "home"}, "request": {}}
    traits["a"] = 2
    assert env["user"]["traits"]["a"] == 1
    assert build_env(traits=None, context=None, request=None) == {
        "user": {"traits": {}},
        "ctx": {},
        "request": {},
    }


# --------------------------------------------------------------------------------------------
# Type mismatches: false, never an error
# --------------------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**400,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "30",
    "2026-11-19T12:00:00Z",
    [],
    [1, "a", None],
    {},
    {"x": 1},
    object(),
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
@pytest.mark.parametrize(
    "rule",
    [
        {"eq": ["user.traits.v", 30]},
        {"neq": ["user.traits.v", 30]},
        {"gt": ["user.traits.v", 29]},
        {"gte": ["user.traits.v", "a"]},
        {"lt": ["user.traits.v", 31]},
        {"lte": ["user.traits.v", "z"]},
        {"in": ["user.traits.v", [30, "30", True]]},
        {"contains": ["user.traits.v", "a"]},
        {"contains": ["user.traits.v", 1]},
        {"exists": "user.traits.v"},
        {"days_since": ["user.traits.v", ">=", 0]},
        {"days_since": ["user.traits.v", "<", 0]},
    ],
    ids=str,
)
def test_any_value_never_raises(value: Any, rule: dict[str, Any]) -> None:
    result = ev(rule, build_env(traits={"v": value}, context=None, request=None))
    assert isinstance(result, bool)


@pytest.mark.parametrize(
    "rule",
    [
        {"eq": ["user.traits.age", "30"]},
        {"eq": ["user.traits.flag", 1]},
        {"eq": ["user.traits.tags", "a"]},
        {"eq": ["user.traits.nested", "x"]},
        {"neq": ["user.traits.age", "31"]},
        {"neq": ["user.traits.flag", 0]},
        {"neq": ["user.traits.tags", "a"]},
        {"gt": ["user.traits.age", "1"]},
        {"gt": ["user.traits.segment", 0]},
        {"gt": ["user.traits.flag", 0]},
        {"lt": ["user.traits.flag", 2]},
        {"gte": ["user.traits.tags", 0]},
        {"lte": ["user.traits.nested", "z"]},
        {"in": ["user.traits.age", ["30", True]]},
        {"in": ["user.traits.tags", ["a", "b"]]},
        {"contains": ["user.traits.bio", 1]},
        {"contains": ["user.traits.age", 3]},
        {"contains": ["user.traits.nested", "level"]},
        {"contains": ["user.traits.tags", True]},
        {"days_since": ["user.traits.tags", ">", 0]},
        {"days_since": ["user.traits.nested", ">", 0]},
        {"days_since": ["user.traits.flag", ">", 0]},
        {"days_since": ["user.traits.segment", ">", 0]},
    ],
    ids=str,
)
def test_type_mismatches_are_false(rule: dict[str, Any]) -> None:
    assert ev(rule) is False


def test_nan_compares_false() -> None:
    env = build_env(traits={"x": math.nan}, context=None, request=None)
    for rule in (
        {"eq": ["user.traits.x", 1]},
        {"gt": ["user.traits.x", 1]},
        {"lte": ["user.traits.x", 1]},
    ):
        assert ev(rule, env) is False


def test_big_integers_compare_exactly() -> None:
    env = build_env(traits={"x": 2**53 + 1}, context=None, request=None)
    assert ev({"gt": ["user.traits.x", float(2**53)]}, env) is True
    assert ev({"eq": ["user.traits.x", float(2**53)]}, env) is False


# --------------------------------------------------------------------------------------------
# days_since
# --------------------------------------------------------------------------------------------


def since(value: Any, comparator: str, days: float, now: datetime = NOW) -> bool:
    env = build_env(traits={"t": value}, context=None, request=None)
    return evaluate({"days_since": ["user.traits.t", comparator, days]}, env, now=now)


SEVEN_DAYS_AGO = [
    "2026-11-19T12:00:00Z",
    "2026-11-19t12:00:00z",
    "2026-11-19 12:00:00Z",
    "2026-11-19T12:00:00.000000Z",
    "2026-11-19T11:59:59.999999999Z",
    "2026-11-19T14:00:00+02:00",
    "2026-11-19T07:00:00-05:00",
    "2026-11-19T17:30:00+05:30",
    "2026-11-19T12:00:00+00:00",
    "2026-11-19T12:00:00-00:00",
    NOW_EPOCH - 7 * DAY,
    float(NOW_EPOCH - 7 * DAY) - 0.5,
    NOW - timedelta(days=7),
]


@pytest.mark.parametrize("value", SEVEN_DAYS_AGO, ids=repr)
def test_days_since_formats_all_read_as_seven_days(value: Any) -> None:
    assert since(value, "==", 7) is True
    assert since(value, "!=", 7) is False
    assert since(value, "<=", 7) is True
    assert since(value, "<", 7) is False
    assert since(value, ">=", 7) is True
    assert since(value, ">", 7) is False
    assert since(value, ">", 6) is True
    assert since(value, "<", 8) is True


@pytest.mark.parametrize(
    ("comparator", "days", "expected"),
    [
        ("<", 3, False),
        ("<", 4, True),
        ("<=", 3, True),
        ("<=", 2, False),
        (">", 2, True),
        (">", 3, False),
        (">=", 3, True),
        (">=", 4, False),
        ("==", 3, True),
        ("==", 3.0, True),
        ("==", 2, False),
        ("!=", 2, True),
        ("!=", 3, False),
        ("<", 3.5, True),
        (">", 2.5, True),
    ],
)
def test_days_since_each_comparator(comparator: str, days: float, expected: bool) -> None:
    # 3 days and 5 hours ago: 3 whole days.
    assert since("2026-11-23T07:00:00Z", comparator, days) is expected


def test_every_comparator_is_tested() -> None:
    assert set(COMPARATORS) == {"<", "<=", ">", ">=", "==", "!="}


def test_days_since_counts_whole_elapsed_days() -> None:
    assert since(NOW_EPOCH - 7 * DAY + 1, "==", 6) is True  # one second short of 7 days
    assert since(NOW_EPOCH - 8 * DAY + 1, "==", 7) is True  # one second short of 8 days
    assert since(NOW_EPOCH, "==", 0) is True
    assert since(NOW_EPOCH + 1, "==", -1) is True  # a second in the future
    assert since(NOW_EPOCH + 2 * DAY, "<", 0) is True
    assert days_between(NOW - timedelta(days=2, hours=23), NOW) == 2
    assert days_between(NOW + timedelta(hours=1), NOW) == -1


def test_days_since_offsets_move_the_instant_across_day_boundaries() -> None:
    # 23:00 at -11:00 is 10:00Z the next day: 6 days and 2 hours before NOW.
    assert since("2026-11-19T23:00:00-11:00", "==", 6) is True
    # 02:00 at +14:00 is 12:00Z the day before: exactly 7 days.
    assert since("2026-11-20T02:00:00+14:00", "==", 7) is True
    # the same wall-clock time without its offset is not a timestamp at all
    assert since("2026-11-19T23:00:00", ">=", 0) is False


def test_days_since_uses_the_injected_now() -> None:
    value = "2026-11-19T12:00:00Z"
    assert since(value, "<=", 7, now=NOW) is True
    assert since(value, "<=", 7, now=NOW + timedelta(days=1)) is False
    assert since(value, "==", 0, now=datetime(2026, 11, 19, 23, 59, tzinfo=UTC)) is True
    # the offset of `now` does not matter, only the instant
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert since(value, "==", 7, now=tokyo) is True
    assert since(value, "==", 7, now=tokyo - timedelta(seconds=1)) is False


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate({"exists": "ctx.a"}, ENV, now=datetime(2026, 11, 26, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        choose_segment([], ENV, now=datetime(2026, 11, 26, 12, 0))


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-19",  # a date, not a date-time
        "2026-11-19T12:00:00",  # no offset
        "2026-11-19T12:00Z",  # no seconds
        "2026-W47-4T12:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-19T25:00:00Z",
        "2026-11-19T12:00:00+24:00",
        "2026-11-19T12:00:00+02:60",
        "2026-11-19T12:00:00Z trailing",
        " 2026-11-19T12:00:00Z",
        "yesterday",
        "1763553600",  # epoch as a string
        "",
        True,
        False,
        None,
        [NOW_EPOCH],
        {"at": NOW_EPOCH},
        10**30,
        1e300,
        -1e300,
        math.nan,
        math.inf,
        datetime(2026, 11, 19, 12, 0),  # naive
    ],
    ids=repr,
)
def test_days_since_unreadable_values_are_false(value: Any) -> None:
    assert parse_timestamp(value) is None
    for comparator in COMPARATORS:
        assert since(value, comparator, 0) is False


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-11-19T14:00:00+02:00") == datetime(2026, 11, 19, 12, tzinfo=UTC)
    assert parse_timestamp("1970-01-01T00:00:00Z") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2026-11-19T07:00:00-05:00") == datetime(2026, 11, 19, 12, tzinfo=UTC)
    assert parse_timestamp("2026-11-20T01:30:00+13:30") == datetime(2026, 11, 19, 12, tzinfo=UTC)
    assert parse_timestamp("2026-11-19T23:00:00-11:00") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp(-DAY) == datetime(1969, 12, 31, tzinfo=UTC)
    assert parse_timestamp("2026-11-19T12:00:00.5Z") == datetime(
        2026, 11, 19, 12, 0, 0, 500_000, tzinfo=UTC
    )
    assert parse_timestamp("2016-12-31T23:59:60Z") == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

PREFIX_MSG = "must start with 'user.traits.', 'ctx.' or 'request.'"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # shape of a rule
        ([], "rule: expected an object with one operator key, got list"),
        ("eq", "rule: expected an object with one operator key, got string"),
        (None, "rule: expected an object with one operator key, got null"),
        ({}, "rule: expected exactly one operator key, got none"),
        (
            {"eq": ["ctx.a", 1], "neq": ["ctx.a", 2]},
            "rule: expected exactly one operator key, got 2 ('eq', 'neq')",
        ),
        ({"equals": ["ctx.a", 1]}, "rule: unknown operator 'equals'"),
        ({"EQ": ["ctx.a", 1]}, "rule: unknown operator 'EQ'"),
        # arity
        ({"eq": ["ctx.a"]}, "rule.eq: expected [path, value]"),
        ({"gt": ["ctx.a", 1, 2]}, "rule.gt: expected [path, value]"),
        ({"contains": "ctx.a"}, "rule.contains: expected [path, value]"),
        ({"in": ["ctx.a"]}, "rule.in: expected [path, [values...]]"),
        ({"days_since": ["ctx.a", "<"]}, "rule.days_since: expected [path, comparator, number]"),
        ({"in": ["ctx.a", "home"]}, "rule.in[1]: expected a list of values, got string"),
        # paths
        ({"eq": ["user.segment", 1]}, f"rule.eq[0]: path 'user.segment' {PREFIX_MSG}"),
        ({"eq": ["user.traits", 1]}, f"rule.eq[0]: path 'user.traits' {PREFIX_MSG}"),
        ({"exists": "traits.x"}, f"rule.exists: path 'traits.x' {PREFIX_MSG}"),
        ({"in": ["env.x", [1]]}, f"rule.in[0]: path 'env.x' {PREFIX_MSG}"),
        ({"exists": "ctx."}, "rule.exists: path 'ctx.' has an empty segment"),
        ({"eq": ["ctx..a", 1]}, "rule.eq[0]: path 'ctx..a' has an empty segment"),
        ({"eq": [3, 1]}, "rule.eq[0]: expected a path string, got number"),
        ({"exists": ["ctx.a"]}, "rule.exists: expected a path string, got list"),
        # literals
        ({"eq": ["ctx.a", None]}, "rule.eq[1]: expected a string, a number or a boolean, got null"),
        ({"eq": ["ctx.a", [1]]}, "rule.eq[1]: expected a string, a number or a boolean, got list"),
        ({"gt": ["ctx.a", True]}, "rule.gt[1]: expected a string or a number, got boolean"),
        ({"lte": ["ctx.a", {}]}, "rule.lte[1]: expected a string or a number, got object"),
        ({"eq": ["ctx.a", math.nan]}, "rule.eq[1]: expected a finite number, got nan"),
        (
            {"in": ["ctx.a", ["x", [1]]]},
            "rule.in[1][1]: expected a string, a number or a boolean, got list",
        ),
        # comparators and day counts
        (
            {"days_since": ["ctx.a", "=<", 7]},
            "rule.days_since[1]: comparator must be one of "
            "'<', '<=', '>', '>=', '==', '!=', got '=<'",
        ),
        (
            {"days_since": ["ctx.a", "<", "7"]},
            "rule.days_since[2]: expected a finite number of days, got '7'",
        ),
        (
            {"days_since": ["ctx.a", "<", True]},
            "rule.days_since[2]: expected a finite number of days, got True",
        ),
        # all / any / not
        ({"all": {"eq": ["ctx.a", 1]}}, "rule.all: expected a non-empty list of rules, got object"),
        ({"any": "x"}, "rule.any: expected a non-empty list of rules, got string"),
        ({"all": []}, "rule.all: expected a non-empty list of rules, got an empty list"),
        ({"any": []}, "rule.any: expected a non-empty list of rules, got an empty list"),
        (
            {"not": [{"exists": "ctx.a"}]},
            "rule.not: expected an object with one operator key, got list",
        ),
        (
            {"all": [{"exists": "ctx.a"}, 5]},
            "rule.all[1]: expected an object with one operator key, got number",
        ),
        ({"not": {"nope": 1}}, "rule.not: unknown operator 'nope'"),
    ],
    ids=str,
)
def test_validate_rule_reports_each_error_with_location(rule: object, expected: str) -> None:
    assert validate_rule(rule) == [expected]
    with pytest.raises(RuleSyntaxError) as raised:
        check_rule(rule)
    assert str(raised.value) == expected
    assert raised.value.problems == (expected,)
    assert isinstance(raised.value, ValueError)


def test_validate_rule_uses_where_and_reports_every_problem() -> None:
    rule = {
        "all": [
            {"exists": "ctx.surface"},
            {"eq": "user.traits.segment"},
            {"any": [{"gt": ["user.x", True]}, {"not": {}}]},
        ]
    }
    assert validate_rule(rule, where="rules[0].rule") == [
        "rules[0].rule.all[1].eq: expected [path, value]",
        f"rules[0].rule.all[2].any[0].gt[0]: path 'user.x' {PREFIX_MSG}",
        "rules[0].rule.all[2].any[0].gt[1]: expected a string or a number, got boolean",
        "rules[0].rule.all[2].any[1].not: expected exactly one operator key, got none",
    ]


def nest(depth: int) -> dict[str, Any]:
    """A rule `depth` levels deep: depth-1 `not`s around a leaf."""
    rule: dict[str, Any] = {"exists": "ctx.a"}
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


def test_nesting_limit() -> None:
    assert MAX_DEPTH == 16
    assert validate_rule(nest(16)) == []
    assert ev(nest(16), build_env(traits=None, context={"a": 1}, request=None)) is False
    problems = validate_rule(nest(17))
    assert problems == ["rule" + ".not" * 16 + ": nesting deeper than 16 levels"]
    with pytest.raises(RuleSyntaxError, match="nesting deeper than 16"):
        ev(nest(17))
    # the same limit for all/any: 15 wraps keep both leaves at depth 16, one more is too deep
    wide: dict[str, Any] = {"exists": "ctx.a"}
    for _ in range(15):
        wide = {"all": [{"exists": "ctx.b"}, wide]}
    assert validate_rule(wide) == []
    too_wide = {"any": [wide]}
    assert validate_rule(too_wide) == [
        "rule.any[0]" + ".all[1]" * 14 + ".all[0]: nesting deeper than 16 levels",
        "rule.any[0]" + ".all[1]" * 15 + ": nesting deeper than 16 levels",
    ]


def test_absurd_nesting_does_not_blow_the_stack() -> None:
    assert len(validate_rule(nest(100_000))) == 1
    with pytest.raises(RuleSyntaxError):
        ev(nest(100_000))


def test_valid_examples() -> None:
    for rule, _ in OPERATOR_CASES:
        assert validate_rule(rule) == [], rule
    assert validate_rule({"eq": ["user.traits.segment", "beta"]}) == []
    assert validate_rule({"days_since": ["user.traits.signup_at", "<=", 7]}) == []
    assert validate_rule({"in": ["ctx.surface", ("home", "pdp")]}) == []
    check_rule({"exists": "request.locale"})


@pytest.mark.parametrize(
    "rule",
    [
        {"eq": ["ctx.a"]},
        {"all": [{"exists": "ctx.a"}, {"bogus": 1}]},
        {"any": []},
        {"not": "x"},
        {"exists": "nowhere.a"},
    ],
    ids=str,
)
def test_evaluate_raises_rule_syntax_error_on_malformed_rules(rule: dict[str, Any]) -> None:
    env = build_env(traits=None, context={"a": 1}, request=None)
    with pytest.raises(RuleSyntaxError, match=r"^rule"):
        evaluate(rule, env, now=NOW)


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------

BETA = SegmentRule({"eq": ["user.traits.segment", "beta"]})
HOME = SegmentRule({"eq": ["ctx.surface", "home"]})
NEVER = SegmentRule({"eq": ["user.traits.segment", "nobody"]})


def seg(segment_id: str, *rules: SegmentRule, priority: int = 0, active: bool = True) -> Segment:
    return Segment(segment_id=segment_id, priority=priority, active=active, rules=rules)


def test_matches_requires_every_enabled_rule() -> None:
    assert matches(seg("s", BETA, HOME), ENV, now=NOW) is True
    assert matches(seg("s", BETA, NEVER), ENV, now=NOW) is False
    assert matches(seg("s", NEVER), ENV, now=NOW) is False


def test_disabled_rules_are_ignored() -> None:
    off = SegmentRule(NEVER.rule, enabled=False)
    assert matches(seg("s", BETA, off), ENV, now=NOW) is True
    # a disabled malformed rule is never evaluated
    broken = SegmentRule({"eq": "nope"}, enabled=False)
    assert matches(seg("s", HOME, broken), ENV, now=NOW) is True


def test_segment_without_enabled_rules_matches_nobody() -> None:
    assert matches(seg("empty"), ENV, now=NOW) is False
    assert matches(seg("off", SegmentRule(BETA.rule, enabled=False)), ENV, now=NOW) is False
    assert choose_segment([seg("empty", priority=100)], ENV, now=NOW) is None


def test_inactive_segments_never_match() -> None:
    inactive = seg("s", BETA, active=False)
    assert matches(inactive, ENV, now=NOW) is False
    chosen = choose_segment([inactive, seg("t", HOME, priority=-5)], ENV, now=NOW)
    assert chosen is not None and chosen.segment_id == "t"


def test_choose_highest_priority_then_lowest_id() -> None:
    segments = [
        seg("b", BETA, priority=5),
        seg("z", HOME, priority=10),
        seg("a", HOME, priority=10),
        seg("top", NEVER, priority=99),
        seg("c", BETA, priority=10, active=False),
    ]
    for order in itertools.permutations(segments):
        chosen = choose_segment(order, ENV, now=NOW)
        assert chosen is not None and chosen.segment_id == "a"
        assert dry_run(order, ENV, now=NOW) == DryRunResult(matched=("a", "z", "b"), chosen="a")


def test_tie_break_compares_whole_ids() -> None:
    segments = [seg("b1", BETA, priority=3), seg("a2", HOME, priority=3), seg("a10", HOME)]
    for order in itertools.permutations(segments):
        assert dry_run(order, ENV, now=NOW) == DryRunResult(("a2", "b1", "a10"), "a2")


def test_negative_priorities_and_no_match() -> None:
    segments = [seg("low", BETA, priority=-1), seg("lower", BETA, priority=-2)]
    chosen = choose_segment(iter(segments), ENV, now=NOW)
    assert chosen is not None and chosen.segment_id == "low"
    assert choose_segment([seg("x", NEVER)], ENV, now=NOW) is None
    assert choose_segment([], ENV, now=NOW) is None
    assert dry_run([seg("x", NEVER)], ENV, now=NOW) == DryRunResult(matched=(), chosen=None)


def test_choice_moves_with_now() -> None:
    new_users = seg(
        "new", SegmentRule({"days_since": ["user.traits.signup_at", "<=", 7]}), priority=1
    )
    everyone = seg("all", SegmentRule({"exists": "ctx.surface"}))
    assert dry_run([new_users, everyone], ENV, now=NOW).chosen == "new"
    later = NOW + timedelta(days=1)
    assert dry_run([new_users, everyone], ENV, now=later) == DryRunResult(("all",), "all")


def test_malformed_segment_rule_names_segment_and_location() -> None:
    broken = seg("s1", BETA, SegmentRule({"all": [HOME.rule, {"eq": ["ctx.a"]}]}))
    with pytest.raises(RuleSyntaxError) as raised:
        matches(broken, ENV, now=NOW)
    assert str(raised.value) == "segment 's1': rules[1].rule.all[1].eq: expected [path, value]"
    assert validate_segment(broken) == ["rules[1].rule.all[1].eq: expected [path, value]"]
    assert validate_segment(seg("ok", BETA, HOME)) == []


def test_dataclasses_are_frozen() -> None:
    segment = seg("s", BETA)
    with pytest.raises(AttributeError):
        segment.priority = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        BETA.enabled = False  # type: ignore[misc]
    assert Segment("x") == Segment(segment_id="x", name="", priority=0, active=True)
    assert Segment("x").profile_id is None and Segment("x").rules == ()


# --------------------------------------------------------------------------------------------
# Property: evaluate never raises on valid rules, whatever the environment
# --------------------------------------------------------------------------------------------

KEYS = ["a", "b", "c"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["a", "b", "2026-11-19T12:00:00Z", "2026-11-19T14:00:00+02:00", "x y"]),
    st.integers(min_value=NOW_EPOCH - 100 * DAY, max_value=NOW_EPOCH + 100 * DAY),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.fixed_dictionaries({}, optional={key: inner for key in [*KEYS, "x"]}),
    ),
    max_leaves=12,
)
# Objects keyed like the generated paths, so that most paths resolve to something.
objects = st.dictionaries(st.sampled_from(KEYS), json_values, min_size=1, max_size=3)
built_envs = st.builds(
    lambda t, c, r: build_env(traits=t, context=c, request=r), objects, objects, objects
)
envs = st.one_of(
    built_envs,
    built_envs,
    built_envs,
    st.builds(
        lambda t, c, r: build_env(traits=t, context=c, request=r),
        st.none() | objects,
        st.none() | objects,
        st.none() | objects,
    ),
    st.dictionaries(st.sampled_from(["user", "ctx", "request"]), json_values, max_size=3),
)

paths = st.builds(
    lambda prefix, rest: prefix + ".".join(rest),
    st.sampled_from(["user.traits.", "ctx.", "request."]),
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=2),
)
literals = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.sampled_from(["a", "b"]),
)
ordered_literals = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4)
)
leaves = st.one_of(
    st.builds(
        lambda op, p, v: {op: [p, v]}, st.sampled_from(["eq", "neq", "contains"]), paths, literals
    ),
    st.builds(
        lambda op, p, v: {op: [p, v]},
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        paths,
        ordered_literals,
    ),
    st.builds(lambda p, vs: {"in": [p, vs]}, paths, st.lists(literals, max_size=4)),
    st.builds(lambda p: {"exists": p}, paths),
    st.builds(
        lambda p, c, n: {"days_since": [p, c, n]},
        paths,
        st.sampled_from(COMPARATORS),
        st.integers(min_value=-400, max_value=400) | st.floats(-400, 400),
    ),
)


def rules_up_to(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 1:
        return leaves
    inner = rules_up_to(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda r: {"not": r}, inner),
        st.builds(lambda rs: {"all": rs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda rs: {"any": rs}, st.lists(inner, min_size=1, max_size=3)),
    )


@settings(max_examples=400, deadline=None)
@given(rule=rules_up_to(4), env=envs, days=st.integers(-1000, 1000))
def test_evaluate_never_raises_on_valid_rules(
    rule: dict[str, Any], env: dict[str, Any], days: int
) -> None:
    assert validate_rule(rule) == []
    now = NOW + timedelta(days=days)
    result = evaluate(rule, env, now=now)
    assert isinstance(result, bool)
    assert evaluate({"not": rule}, env, now=now) is (not result)
    assert evaluate({"all": [rule, rule]}, env, now=now) is result
    assert evaluate({"any": [rule, {"not": rule}]}, env, now=now) is True


def _path_of(leaf: dict[str, Any]) -> str:
    ((op, arg),) = leaf.items()
    return str(arg if op == "exists" else arg[0])


def _env_with(path: str, value: Any) -> dict[str, Any]:
    env: dict[str, Any] = {}
    *parents, last = path.split(".")
    node = env
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return env


@settings(max_examples=600, deadline=None)
@given(leaf=leaves, value=json_values, days=st.integers(-1000, 1000))
def test_leaf_never_raises_whatever_value_its_path_holds(
    leaf: dict[str, Any], value: Any, days: int
) -> None:
    env = _env_with(_path_of(leaf), value)
    now = NOW + timedelta(days=days)
    result = evaluate(leaf, env, now=now)
    assert isinstance(result, bool)
    if value is None:
        assert result is False
    else:
        assert evaluate({"exists": _path_of(leaf)}, env, now=now) is True


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_validate_rule_never_raises_on_junk(data: st.DataObject) -> None:
    keys = st.sampled_from(sorted(OPERATORS)) | st.text(max_size=8)
    junk = data.draw(json_values | st.dictionaries(keys, json_values, max_size=3))
    problems = validate_rule(junk)
    assert isinstance(problems, list)
    assert all(isinstance(p, str) and p.startswith("rule") for p in problems)

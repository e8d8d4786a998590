"""No request-level override builds a signal on the request path: a request carrying any knob
at either end of its range ranks from the signals the snapshot already holds, so it can neither
stall its worker nor change what other requests are served."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recsys.config.knobs import KNOBS, Knob, defaults, parse_overrides
from recsys.policy.namespace import NamespacePolicy
from recsys.ranking import build_pipeline
from recsys.ranking.builder import build_request
from recsys.signals.snapshot import Snapshot
from tests.ranking.shop import NOW
from tests.ranking.synthetic_shop import SYNTHETIC_USER, synthetic_snapshot

REQUEST_NUMBERS = [k for k in KNOBS if k.scope == "request" and k.kind in ("int", "float")]


def ranked(snapshot: Snapshot, overrides: dict[str, Any], user_id: str | None) -> list[str]:
    request = build_request(
        snapshot,
        NamespacePolicy(),
        base_knobs=defaults(),
        now_us=NOW,
        k=20,
        user_id=user_id,
        overrides=parse_overrides(overrides, scope="request"),
    ).request
    return [item.item_id for item in build_pipeline().run(snapshot, request).items]


def test_the_request_knobs_include_the_costly_ones() -> None:
    keys = {k.key for k in REQUEST_NUMBERS}
    assert {"popularity_fanout", "profile_top_n", "mmr_lambda", "blend_delta"} <= keys


@pytest.mark.parametrize("knob", REQUEST_NUMBERS, ids=lambda k: k.key)
def test_a_request_override_builds_no_signal(knob: Knob) -> None:
    snapshot = synthetic_snapshot()
    for user_id in (None, SYNTHETIC_USER):
        ranked(snapshot, {}, user_id)  # anything a plain request needs is built by now
    built = snapshot.signals_built()
    plain = ranked(snapshot, {}, SYNTHETIC_USER)
    for end in (knob.minimum, knob.maximum):
        assert end is not None
        value: Any = int(end) if knob.kind == "int" else float(end)
        for user_id in (None, SYNTHETIC_USER):
            ranked(snapshot, {knob.key: value}, user_id)
        assert snapshot.signals_built() == built, f"{knob.key}={value} built a signal"
    # Other requests are served exactly as before.
    assert ranked(snapshot, {}, SYNTHETIC_USER) == plain


def test_a_namespace_setting_would_be_caught() -> None:
    """The check above can fail: building a signal for another value adds to the snapshot."""
    snapshot = synthetic_snapshot.__wrapped__()  # its own copy: this one gets a signal added
    built = snapshot.signals_built()
    snapshot.popularity(float(np.pi))
    assert snapshot.signals_built() - built == {("popularity", float(np.pi))}

"""Time as data: UTC microseconds in storage, aware datetimes at the edges, clocks passed in."""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def system_clock() -> datetime:
    """The real clock; anything that needs "now" takes a clock so tests can pass their own."""
    return datetime.now(UTC)


def to_micros(moment: datetime) -> int:
    """Aware datetime -> integer microseconds since the Unix epoch (exact, no float rounding)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a timezone is required")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(
        microsecond=micros % 1_000_000
    )


__all__ = ["from_micros", "system_clock", "to_micros"]

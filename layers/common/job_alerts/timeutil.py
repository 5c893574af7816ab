"""Time, the one way: the injectable clock, and reading and writing moments (ISO-8601 UTC,
epoch seconds or milliseconds). Code that needs "now" takes a Clock; only `system_clock` reads
the wall clock."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

# Epoch numbers at or above this are milliseconds: 1e11 seconds is the year 5138, while 1e11
# milliseconds is March 1973, before any Bright Data job.
_EPOCH_MS_FROM = 100_000_000_000
# Later than this is not a job time (and past datetime's range in milliseconds anyway).
_EPOCH_MS_UNTIL = 253_402_300_800_000  # 10000-01-01


def system_clock() -> datetime:
    """The wall clock, in UTC. The only place the package reads it."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware and in UTC; a moment without a zone is taken as UTC (the zone every API time uses)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z: how the state table stores every time."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_seconds(moment: datetime) -> str:
    """ISO-8601 UTC to the second with Z: how alert documents show times."""
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    """An ISO-8601 text (Z or an offset; none means UTC) as an aware UTC datetime; None or ''
    give None; anything else raises ValueError."""
    if not value:
        return None
    return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))


def parse_moment(value: object) -> datetime | None:
    """A moment as APIs write it: ISO-8601 (with or without zone), epoch seconds or epoch
    milliseconds, as a number or a numeric string. None or blank give None; anything else that is
    not a readable moment raises ValueError saying what was expected."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a time, got a boolean")
    if isinstance(value, int | float):
        try:
            return _from_epoch(float(value))
        except OverflowError:
            raise ValueError("epoch time out of range") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a time, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return _from_epoch(number)
    try:
        return parse_iso(text)
    except (ValueError, OverflowError):
        raise ValueError("expected ISO-8601, epoch seconds or epoch milliseconds") from None


def _from_epoch(number: float) -> datetime:
    if not math.isfinite(number) or number < 0 or number >= _EPOCH_MS_UNTIL:
        raise ValueError(f"epoch time out of range: {number!r}")
    seconds = number / 1000 if number >= _EPOCH_MS_FROM else number
    return datetime.fromtimestamp(seconds, UTC)


def ttl_at(moment: datetime, days: int) -> int:
    """A DynamoDB TTL attribute: epoch seconds `days` after `moment`."""
    return int((moment + timedelta(days=days)).timestamp())


__all__ = [
    "Clock",
    "as_utc",
    "iso",
    "iso_seconds",
    "parse_iso",
    "parse_moment",
    "system_clock",
    "ttl_at",
]

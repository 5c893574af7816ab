"""Argument values of the command line: durations, ids, bounded text; each converter raises
ValueError with a message fit for the operator, and `argument()` makes it a usage error."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from job_alerts.text import duration, preview

MAX_SILENCE = timedelta(days=30)
MAX_REASON_CHARS = 500
MAX_NAME_CHARS = 200
MAX_HISTORY = 1000

_DURATION = re.compile(r"(?:(?P<d>\d{1,5})d)?(?:(?P<h>\d{1,6})h)?(?:(?P<m>\d{1,8})m)?")
_DURATION_HINT = "expected a duration like 30m, 2h, 1d or 1h30m"
# Anything a terminal could interpret (escape sequences, bells, carriage returns).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# How much of a refused argument an error quotes.
_SHOWN_CHARS = 40


def _shown(text: str) -> str:
    return preview(text, _SHOWN_CHARS)


def parse_duration(text: str, *, maximum: timedelta | None = None) -> timedelta:
    """`30m`, `2h`, `1d`, `1h30m` (days, hours, minutes, in that order) as a timedelta > 0."""
    cleaned = text.strip().lower()
    match = _DURATION.fullmatch(cleaned) if cleaned else None
    if match is None:
        raise ValueError(f"invalid duration {_shown(text)}: {_DURATION_HINT}")
    parts = {unit: int(value or 0) for unit, value in match.groupdict().items()}
    span = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"])
    if span <= timedelta(0):
        raise ValueError(f"invalid duration {_shown(text)}: it must be longer than zero")
    if maximum is not None and span > maximum:
        raise ValueError(f"duration {_shown(text)} is too long: at most {duration(maximum)}")
    return span


def argument(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """Turn a converter's ValueError into an argparse usage error carrying its message."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = convert.__name__
    return parse


def silence_duration(text: str) -> timedelta:
    return parse_duration(text, maximum=MAX_SILENCE)


def collector_id(text: str) -> str:
    from job_alerts.brightdata import validate_collector_id

    return validate_collector_id(text)


def since(text: str) -> timedelta | datetime:
    with contextlib.suppress(ValueError):
        return parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid --since {_shown(text)}: expected a duration (30m, 2h, 7d) "
            "or an ISO date/time (2026-01-31 or 2026-01-31T08:00:00Z)"
        ) from None
    # A time without zone is taken as UTC, the zone every stored time uses.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def limit(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_HISTORY:
        raise ValueError(f"invalid --limit {_shown(text)}: expected 1 to {MAX_HISTORY}")
    return int(text)


def bounded_text(what: str, limit: int) -> Callable[[str], str]:
    def text_value(text: str) -> str:
        cleaned = CONTROL.sub(" ", text).strip()
        if not cleaned:
            raise ValueError(f"{what} must not be empty")
        if len(cleaned) > limit:
            raise ValueError(f"{what} is too long ({len(cleaned)} characters, at most {limit})")
        return cleaned

    text_value.__name__ = what
    return text_value

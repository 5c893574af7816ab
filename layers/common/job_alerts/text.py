"""How values read in text meant for people, the one way: percents, durations, moments, counts,
and outside text cut short, previewed or escaped for Slack. Every alert rendering, finding
message and CLI line uses these; machine formats (ISO-8601 in documents, the table, --json) are
timeutil's. Pure."""

from __future__ import annotations

import math
import unicodedata
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal

from job_alerts.timeutil import as_utc

__all__ = [
    "count",
    "day",
    "duration",
    "escape_mrkdwn",
    "moment",
    "number",
    "one_line",
    "percent",
    "preview",
    "truncate",
]

# What a value that cannot be shown (no moment, an infinite span) reads as.
_NOTHING = "-"
# How many decimals a percent may grow to so that it does not read the same as its limit.
_PERCENT_MAX_DECIMALS = 4
# The smallest unit a duration shows, by its size, in tenths of a second: 0.1 s below 10 s,
# seconds below a minute, minutes below a day, hours from a day on.
_TENTH, _SECOND, _MINUTE, _HOUR, _DAY = 1, 10, 600, 36_000, 864_000
_PREVIEW_CHARS = 24
# Room for any float's digits and its decimals: rounding is exact and never overflows.
_WIDE = Context(prec=400, rounding=ROUND_HALF_UP)


def _exact(value: float) -> Decimal:
    """A float as the decimal it is written as (0.425, not 0.42499999…)."""
    return Decimal(repr(float(value)))


def _half_up(value: Decimal, places: int = 0) -> Decimal:
    """Rounded half up, as people round (1.25 -> 1.3, 2.5 -> 3), to `places` decimals."""
    return value.quantize(Decimal(1).scaleb(-places), context=_WIDE)


def _decimals(value: Decimal) -> str:
    """A rounded number without trailing zeros: 42.50 -> "42.5", 90.0 -> "90"."""
    shown = f"{value:,f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def percent(rate: float, beside: float | None = None) -> str:
    """A fraction as a percent, to one decimal with ".0" dropped: 0.42 -> "42%", 0.425 ->
    "42.5%". Beside the limit it is compared with, it gets more decimals (up to four) rather than
    read the same as that limit: 0.8999 beside 0.9 -> "89.99%", not "90%" < "90%"."""
    if not math.isfinite(rate):
        return _NOTHING
    limit = None if beside is None else percent(beside)
    for places in range(1, _PERCENT_MAX_DECIMALS + 1):
        shown = _decimals(_half_up(_exact(rate).scaleb(2, context=_WIDE), places)) + "%"
        if shown != limit or rate == beside:
            break
    return shown


def _seconds(span: timedelta | float) -> float:
    return span.total_seconds() if isinstance(span, timedelta) else float(span)


def _unit_of(seconds: float) -> int:
    if seconds < 10:
        return _TENTH
    if seconds < 60:
        return _SECOND
    return _MINUTE if seconds < 86_400 else _HOUR


def _spoken(seconds: float, unit: int) -> str:
    in_units = _WIDE.divide(_exact(seconds).scaleb(1, context=_WIDE), Decimal(unit))
    tenths = int(_half_up(in_units)) * unit
    days, rest = divmod(tenths, _DAY)
    hours, rest = divmod(rest, _HOUR)
    minutes, rest = divmod(rest, _MINUTE)
    whole, tenth = divmod(rest, _SECOND)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else ""]
    parts.append(f"{minutes} min" if minutes else "")
    parts.append(f"{whole}.{tenth} s" if tenth else f"{whole} s" if whole else "")
    return " ".join(part for part in parts if part) or "0 s"


def duration(span: timedelta | float, beside: timedelta | float | None = None) -> str:
    """A span (a timedelta, or seconds) as people say it, rounded half up to its smallest unit:
    "0.6 s", "40 s", "1 min", "1 h 5 min", "2 d 3 h". Beside the limit it is compared with, it
    shows smaller units rather than read the same as that limit: 4 h 0 min 6 s beside 4 h ->
    "4 h 6 s", not "4 h" > "4 h". Negative spans read "0 s"."""
    seconds = max(0.0, _seconds(span))
    if not math.isfinite(seconds):
        return _NOTHING
    limit = None if beside is None else duration(beside)
    limit_seconds = None if beside is None else max(0.0, _seconds(beside))
    unit = _unit_of(seconds)
    shown = _spoken(seconds, unit)
    finer = (_MINUTE, _SECOND, _TENTH)
    while shown == limit and seconds != limit_seconds and unit > _TENTH:
        unit = next(smaller for smaller in finer if smaller < unit)
        shown = _spoken(seconds, unit)
    return shown


def moment(value: datetime | None) -> str:
    """A moment, in UTC to the second: "2026-11-29 06:00:00 UTC"; "-" for none. A time without
    a zone is taken as UTC."""
    if value is None:
        return _NOTHING
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def day(value: date) -> str:
    """A calendar day (UTC), as a moment's date reads: "2026-11-29"."""
    return value.strftime("%Y-%m-%d")


def number(value: float) -> str:
    """A plain number: integers with thousands separators ("1,234"), others to one decimal
    with ".0" dropped ("12.5", "1,000")."""
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return _NOTHING
    return _decimals(_half_up(_exact(value), 1))


def count(value: float, noun: str | None = None, plural: str | None = None) -> str:
    """A number of things: "1,234"; with a noun, singular for one, else `plural` (the noun plus
    "s" unless given): "1 input", "58 inputs", "3 settled jobs"."""
    shown = number(value)
    if noun is None:
        return shown
    return f"{shown} {noun if value == 1 else plural or noun + 's'}"


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, a cut marked with "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def one_line(text: str, limit: int) -> str:
    """Control characters and line breaks become spaces; runs of spaces collapse; cut at limit."""
    cleaned = "".join(
        " " if unicodedata.category(char)[0] in "CZ" else char for char in text
    ).split()
    return truncate(" ".join(cleaned), limit)


def preview(value: str, limit: int = _PREVIEW_CHARS) -> str:
    """Untrusted text quoted in an error message: its start, escaped to printable ASCII, and
    its length when it is longer: 'abc', or 'xxxxxxxx'... (300 chars)."""
    shown = ascii(value[:limit])
    return shown + (f"... ({len(value)} chars)" if len(value) > limit else "")


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control syntax (links, mentions) so text
    from Bright Data or users shows literally and can never ping a channel or hide a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

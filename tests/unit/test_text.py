"""One way of writing each value: how percents, durations, moments and counts read everywhere
(`job_alerts.text`), and a scan of the package that fails when a module formats one by hand."""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from job_alerts.text import (
    count,
    day,
    duration,
    escape_mrkdwn,
    moment,
    number,
    one_line,
    percent,
    preview,
    truncate,
)

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "job_alerts"
TEXT_MODULE = PACKAGE / "text.py"


# --- percent: one decimal, ".0" dropped, rounded half up ----------------------------------------


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (0.42, "42%"),
        (0.425, "42.5%"),
        (0.4225, "42.3%"),
        (0.9, "90%"),
        (0.0, "0%"),
        (1.0, "100%"),
        (1 / 3, "33.3%"),
        (0.0004, "0%"),
        (float("nan"), "-"),
    ],
)
def test_percent_has_one_decimal_at_most(rate: float, shown: str) -> None:
    assert percent(rate) == shown


@pytest.mark.parametrize(
    ("rate", "limit", "shown"),
    [
        (0.42, 0.9, "42%"),
        (0.8999, 0.9, "89.99%"),
        (0.90004, 0.9, "90.004%"),
        (0.9, 0.9, "90%"),
    ],
)
def test_percent_beside_its_limit_never_reads_as_the_limit(
    rate: float, limit: float, shown: str
) -> None:
    assert percent(rate, beside=limit) == shown


# --- duration: "40 s", "1 min", "1 h 5 min", "2 d 3 h", rounded half up --------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (-5, "0 s"),
        (0.645, "0.6 s"),
        (1.25, "1.3 s"),
        (2.0, "2 s"),
        (9.96, "10 s"),
        (40, "40 s"),
        (59.4, "59 s"),
        (59.6, "1 min"),
        (60, "1 min"),
        (89, "1 min"),
        (90, "2 min"),
        (3599, "1 h"),
        (3600, "1 h"),
        (3900, "1 h 5 min"),
        (8100, "2 h 15 min"),
        (86_400, "1 d"),
        (97_200, "1 d 3 h"),
        (183_600, "2 d 3 h"),
        (float("inf"), "-"),
    ],
)
def test_duration_reads_like_a_person_would_say_it(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
    if seconds >= 0 and seconds != float("inf"):
        assert duration(timedelta(seconds=seconds)) == shown


@pytest.mark.parametrize(
    ("span", "limit", "shown"),
    [
        (timedelta(minutes=75), timedelta(hours=1), "1 h 15 min"),
        (timedelta(minutes=240, seconds=6), timedelta(hours=4), "4 h 6 s"),
        (timedelta(minutes=240, seconds=0.3), timedelta(hours=4), "4 h 0.3 s"),
        (timedelta(days=2, minutes=10), timedelta(days=2), "2 d 10 min"),
        (timedelta(hours=4), timedelta(hours=4), "4 h"),
    ],
)
def test_duration_beside_its_limit_never_reads_as_the_limit(
    span: timedelta, limit: timedelta, shown: str
) -> None:
    assert duration(span, beside=limit) == shown


# --- moments, days, counts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 11, 29, 6, 0, tzinfo=UTC), "2026-11-29 06:00:00 UTC"),
        (
            datetime(2026, 11, 29, 8, 0, 5, 900_000, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-29 06:00:05 UTC",
        ),
        (datetime(2026, 11, 29, 6, 0), "2026-11-29 06:00:00 UTC"),
        (None, "-"),
    ],
)
def test_moment_is_utc_to_the_second(value: datetime | None, shown: str) -> None:
    assert moment(value) == shown


def test_day_reads_as_the_date_of_a_moment() -> None:
    assert day(date(2026, 2, 28)) == "2026-02-28"
    assert moment(datetime(2026, 2, 28, tzinfo=UTC)).startswith(day(date(2026, 2, 28)))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (1234, "1,234"), (1000.0, "1,000"), (12.25, "12.3"), (3.0, "3"), (-7, "-7")],
)
def test_number_has_thousands_separators_and_one_decimal_at_most(value: float, shown: str) -> None:
    assert number(value) == shown


@pytest.mark.parametrize(
    ("value", "noun", "plural", "shown"),
    [
        (1234, None, None, "1,234"),
        (1, "input", None, "1 input"),
        (0, "input", None, "0 inputs"),
        (58, "input", None, "58 inputs"),
        (2, "recent settled job", None, "2 recent settled jobs"),
        (3, "entry", "entries", "3 entries"),
    ],
)
def test_count_says_its_noun_in_the_singular_only_for_one(
    value: int, noun: str | None, plural: str | None, shown: str
) -> None:
    assert count(value, noun, plural) == shown


# --- outside text: cut, one line, preview, Slack escaping ----------------------------------------


def test_truncate_and_one_line_cut_with_an_ellipsis() -> None:
    assert truncate("hello world", 20) == "hello world"
    assert truncate("hello world", 7) == "hello…"
    assert one_line("a\nb\r\n\tc\x00  d", 80) == "a b c d"
    assert one_line("x" * 300, 10) == "x" * 9 + "…"


def test_preview_quotes_untrusted_text_in_printable_ascii() -> None:
    assert preview("abc") == "'abc'"
    assert preview("a\x1b[31m") == "'a\\x1b[31m'"
    assert preview("x" * 30) == "'" + "x" * 24 + "'... (30 chars)"
    assert preview("x" * 30, 40) == "'" + "x" * 30 + "'"


def test_escape_mrkdwn_leaves_no_slack_control_syntax() -> None:
    assert (
        escape_mrkdwn("<!channel> & <https://x|y>") == "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    )


# --- the one way: nothing else in the package formats these values ------------------------------

# Named like a formatter of a percent, a duration, a moment or outside text: `percent`,
# `_percent`, `format_duration`, `show_duration`, `show_time`, `show_minutes`, `preview`, …
_FORMATTER_NAME = re.compile(
    r"_?(?:(?:format|show|human|pretty|fmt)_)?"
    r"(?:percent|percentage|pct|duration|time|moment|minutes|seconds|timestamp"
    r"|preview|truncate|one_line|escape_mrkdwn)"
)
# A value written into text followed by a percent sign or a unit of time: f"{rate}%", f"{m} min".
_UNIT_AFTER_VALUE = re.compile(
    r"(?:%| (?:ms|s|secs?|seconds?|min|mins|minutes?|h|hrs?|hours?|d|days?)\b)"
)
# A strftime pattern people read (with separators); compact id stamps (%Y%m%dT%H%M%S) are not.
_HUMAN_TIME_PATTERN = re.compile(r"%[A-Za-z][-: /,]")
_ISO_CALLS = {"iso", "iso_seconds", "isoformat"}


def _called_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _returns_text(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Returns a str, or says nothing of what it returns (a parser named `_moment` that returns
    a datetime is no formatter)."""
    returns = node.returns
    return returns is None or (isinstance(returns, ast.Name) and returns.id == "str")


def _prose(node: ast.JoinedStr) -> bool:
    """An f-string with words in it (a space), not a key or an id like f"{iso(t)}#{job_id}"."""
    return any(isinstance(v, ast.Constant) and " " in str(v.value) for v in node.values)


def _hand_formatted(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _FORMATTER_NAME.fullmatch(node.name) and _returns_text(node):
                yield node.lineno, f"defines {node.name}()"
        elif isinstance(node, ast.Call) and _called_name(node) == "strftime":
            pattern = node.args[0] if node.args else None
            if isinstance(pattern, ast.Constant) and _HUMAN_TIME_PATTERN.search(str(pattern.value)):
                yield node.lineno, f"strftime({pattern.value!r})"
        elif isinstance(node, ast.JoinedStr):
            yield from _hand_formatted_fstring(node)


def _hand_formatted_fstring(node: ast.JoinedStr) -> Iterator[tuple[int, str]]:
    values = node.values
    for value, after in itertools.pairwise(values):
        if (
            isinstance(value, ast.FormattedValue)
            and isinstance(after, ast.Constant)
            and _UNIT_AFTER_VALUE.match(str(after.value))
        ):
            yield node.lineno, f"a value followed by {str(after.value)[:12]!r}"
    for value in values:
        if not isinstance(value, ast.FormattedValue):
            continue
        parts = value.format_spec.values if value.format_spec else []
        shown = "".join(str(part.value) for part in parts if isinstance(part, ast.Constant))
        if shown.endswith("%") or _HUMAN_TIME_PATTERN.search(shown):
            yield node.lineno, f"format spec {shown!r}"
        if _prose(node) and _called_name(value.value) in _ISO_CALLS:
            yield node.lineno, "ISO-8601 written into text for people"


def test_no_module_but_text_formats_a_percent_duration_or_moment_for_people() -> None:
    # Given every module of the package but the one that owns how values read
    modules = sorted(path for path in PACKAGE.rglob("*.py") if path != TEXT_MODULE)
    assert len(modules) > 40
    # When each is scanned for a hand-written formatter or a value formatted in place
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {what}"
        for path in modules
        for line, what in _hand_formatted(ast.parse(path.read_text(encoding="utf-8")))
    ]
    # Then there is none: percents, durations and moments read one way, job_alerts.text's
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "def percent(rate):\n    return f'{rate * 100:.1f}%'\n",
        "def _format_duration(s: float) -> str:\n    return str(s)\n",
        "def preview(text: str, limit: int = 40) -> str:\n    return ascii(text[:limit])\n",
        "x = f'queued for {minutes} min'\n",
        "x = f'{share:.0%} of its median'\n",
        "x = moment.strftime('%Y-%m-%d %H:%M:%SZ')\n",
        "x = f'no job since {iso_seconds(last)}'\n",
    ],
)
def test_the_scan_catches_a_second_formatter(source: str) -> None:
    assert list(_hand_formatted(ast.parse(source)))


@pytest.mark.parametrize(
    "source",
    [
        "def parse_duration(text: str) -> timedelta:\n    return timedelta(text)\n",
        "def _moment(value: str) -> datetime:\n    return parse_iso(value)\n",
        "stamp = now.strftime('%Y%m%dT%H%M%S')\n",
        "key = f'{iso(created)}#{alert_id}'\n",
        "x = f'{count(n, \"input\")} failed'\n",
    ],
)
def test_the_scan_lets_machine_formats_and_the_text_helpers_be(source: str) -> None:
    assert list(_hand_formatted(ast.parse(source))) == []

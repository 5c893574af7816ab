"""Every `job-alerts` command an alert, the README or a `--help` shows works when pasted: the
CLI's own parser accepts it (a command shown in an alert that exits 2 is worse than none), and
an alert's footer offers what fits it: collector commands on a collector's alert, the monitor's
status on a health alert."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from job_alerts import cli
from job_alerts.alerts import render_email, to_document
from job_alerts.alerts.wording import footer_commands

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "tests" / "golden"
README = (ROOT / "README.md").read_text(encoding="utf-8")
# A command as shown: in backticks, or after a footer label, up to the end of the line or quote.
INLINE = re.compile(r"`(job-alerts [^`]+)`")
FOOTER = re.compile(r"^[A-Z][a-z ]+: (job-alerts .+)$", re.MULTILINE)
# README synopsis rows (`check JOB_ID… [--json]`, `silence ID --reason TEXT`) describe a
# command; they are not one to paste.
SYNOPSIS = re.compile(r"[…\[\]]|\b[A-Z][A-Z_]+\b")


def parses(command: str) -> argparse.Namespace:
    argv = shlex.split(command)
    assert argv[0] == "job-alerts", command
    try:
        return cli.build_parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse's usage error
        pytest.fail(f"{command!r} does not parse (exit {exc.code})")


def commands_in(text: str) -> list[str]:
    found = INLINE.findall(text) + FOOTER.findall(text)
    return [c.replace('\\"', '"') for c in found]


def golden_texts() -> list[tuple[str, str]]:
    return [
        (path.name, path.read_text(encoding="utf-8"))
        for path in sorted(GOLDEN_DIR.iterdir())
        if path.suffix in (".txt", ".json")
    ]


@pytest.mark.parametrize(("name", "text"), golden_texts(), ids=lambda v: v if "." in v else "")
def test_every_command_an_alert_shows_parses(name: str, text: str) -> None:
    for command in commands_in(text):
        parses(command)


def test_alerts_show_commands_at_all() -> None:
    # Guard against a regex that silently finds nothing
    found = [c for _, text in golden_texts() for c in commands_in(text)]
    assert any(c.startswith("job-alerts silence ") for c in found)
    assert any(c.startswith("job-alerts status") for c in found)
    assert any("--what-if" in c for c in found)


def _names_a_command(command: str) -> bool:
    words = shlex.split(command)[1:]
    return any(not word.startswith("-") for word in words)


def readme_commands() -> list[str]:
    commands = []
    for line in README.splitlines():
        if line.lstrip().startswith("|"):
            # Tables: only what is not synopsis notation or the mention of an option.
            commands += [
                c for c in INLINE.findall(line) if not SYNOPSIS.search(c) and _names_a_command(c)
            ]
            continue
        stripped = line.split("  #", 1)[0].strip()
        if stripped.startswith("job-alerts "):
            commands.append(stripped)
        commands += INLINE.findall(line) + FOOTER.findall(line)
    return list(dict.fromkeys(commands))


@pytest.mark.parametrize("command", readme_commands())
def test_every_command_the_readme_shows_parses(command: str) -> None:
    parses(command)


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _all_parsers(sub)
    return found


def test_every_command_a_help_text_shows_parses() -> None:
    for parser in _all_parsers(cli.build_parser()):
        text = parser.format_help()
        for command in INLINE.findall(text):
            parses(command)


def test_a_silence_command_from_an_alert_silences_that_collector() -> None:
    # Given the footer of a collector's alert
    text = (GOLDEN_DIR / "alarm_success_rate.txt").read_text(encoding="utf-8")
    (command,) = [c for c in commands_in(text) if c.startswith("job-alerts silence")]
    # When parsed / Then it names the collector, a duration and a reason
    args = parses(command)
    assert (args.collector_id, args.reason) == ("c_m9im5n7v82p2y35la", "investigating")


@pytest.mark.parametrize(
    ("golden", "expected"),
    [
        ("degraded_token_rejected.txt", ["job-alerts status"]),
        ("test.txt", ["job-alerts test-alert"]),
    ],
)
def test_footers_of_alerts_without_a_collector_fit_them(golden: str, expected: list[str]) -> None:
    # Given a monitor-health or test alert / Then its footer has no collector commands
    text = (GOLDEN_DIR / golden).read_text(encoding="utf-8")
    footer = text.split("\n--\n", 1)[1]
    assert FOOTER.findall(footer) == expected
    assert "thresholds" not in footer and "silence" not in footer


def test_footer_offers_a_what_if_only_for_an_open_alarm_on_a_limit() -> None:
    from tests.unit.test_alert_render import CASES

    for name, alert in CASES.items():
        labels = [label for label, _ in footer_commands(alert)]
        top = alert.top_entry
        open_on_limit = (
            alert.collector_id is not None
            and not alert.test
            and isinstance(top.limit, int | float)
            and top.kind.value in ("ALARM", "REMINDER")
        )
        assert ("Try another limit first" in labels) is open_on_limit, name
        email = render_email(to_document(alert))
        assert all(command in email for _, command in footer_commands(alert))


STACK_GOLDENS = [
    f"staging_{name}{channel}"
    for name in ("alarm_success_rate", "degraded_token_rejected", "test")
    for channel in (".txt", ".slack.json")
]


@pytest.mark.parametrize("golden", STACK_GOLDENS)
def test_every_command_an_alert_of_a_stack_shows_selects_that_stack_and_region(
    golden: str,
) -> None:
    # Given an alert the stack "staging" in eu-west-1 sent, by email or Slack
    commands = commands_in((GOLDEN_DIR / golden).read_text(encoding="utf-8"))
    assert commands
    for command in commands:
        # When a command it shows is parsed by the CLI's own parser
        args = parses(command)
        # Then it names that stack, and its region (the CLI's default may be another one)
        assert (args.stack, args.region) == ("staging", "eu-west-1"), command


@pytest.mark.parametrize(("name", "text"), golden_texts(), ids=lambda v: v if "." in v else "")
def test_commands_of_an_alert_without_a_deployment_name_none(name: str, text: str) -> None:
    # Given an alert a local run sent (no stack) / Then its commands do not invent one
    if not name.startswith("staging_"):
        for command in commands_in(text):
            assert (parses(command).stack, parses(command).region) == (None, None), command

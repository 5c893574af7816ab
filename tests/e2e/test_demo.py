"""`make demo` end to end: the demo runs as that target runs it, plays its scenario through the
real code over local servers, prints emails and Slack posts, and leaves no server behind."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60
EMAIL_SUBJECT = re.compile(r"^  email  Subject: \[(CRITICAL|WARNING|INFO)\] ", re.MULTILINE)
SLACK_POST = re.compile(r"^  slack  :\w+: \[[A-Z]+\] Bright Data job alert", re.MULTILINE)
LOCAL_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


def run_demo(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "layers" / "common")]),
    }
    env.pop("NO_COLOR", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "local.demo", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS * 2,
        check=False,
    )
    return result, time.monotonic() - started


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_plays_the_scenario_and_delivers_every_kind(tmp_path: Path) -> None:
    # Given a file for the delivered messages
    alerts_out = tmp_path / "alerts.jsonl"

    # When the demo runs as `make demo` runs it
    result, seconds = run_demo("--alerts-out", str(alerts_out))

    # Then it succeeds quickly, in plain text (stdout is a pipe)
    assert result.returncode == 0, result.stderr[-2000:]
    assert seconds < DEADLINE_SECONDS
    out = result.stdout
    assert "\033[" not in out
    # And it printed emails and Slack posts
    subjects = EMAIL_SUBJECT.findall(out)
    posts = SLACK_POST.findall(out)
    assert subjects and posts
    assert "summary" in out and "Bright Data API" in out
    # And every delivered SNS message is one JSON line with subject, attributes and document
    lines = [json.loads(line) for line in alerts_out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(posts)
    for line in lines:
        assert line["subject"] and line["attributes"]["severity"] == line["document"]["severity"]
    kinds = {entry["kind"] for line in lines for entry in line["document"]["entries"]}
    assert {"ALARM", "JOB", "RESOLVED"} <= kinds
    # And among them a silent collector, a job below its collector's baseline and a rerun, the
    # one setting changed for it said so
    rules = {entry["rule"] for line in lines for entry in line["document"]["entries"]}
    assert {"collector_silent", "output_below_baseline", "rerun"} <= rules
    assert "this demo opts Bing SERP (c_bing_serp) in (RerunCollectors=c_bing_serp)" in out
    assert re.search(r"rerun j_\w+ of j_serp_0902 recovered 80 of 84 inputs", out)
    # And the local servers it announced are gone
    header = next(line for line in out.splitlines() if line.startswith("local services:"))
    ports = [int(port) for port in LOCAL_PORT.findall(header)]
    assert len(ports) == 3
    assert [port for port in ports if is_listening(port)] == []


def test_demo_quiet_prints_only_the_summary() -> None:
    # When the demo runs two scenario runs quietly
    result, _ = run_demo("--quiet", "--runs", "2")

    # Then it succeeds and prints the summary alone
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.lstrip().startswith("summary")
    assert not SLACK_POST.search(result.stdout)
    assert re.search(r"^  runs +2 ", result.stdout, re.MULTILINE)

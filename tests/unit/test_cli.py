"""Specs for the operator CLI without network: help, usage errors, durations, hostile ids,
configuration errors, and how `check` turns job logs into verdicts and exit codes."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts import cli, factory
from job_alerts.brightdata import NotFound, Unauthorized

TOKEN = "unit-token-do-not-print-0123456789"
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens; must never be needed

COMMAND_OPTIONS = {
    "check": ["JOB_ID", "--json", "--collector-thresholds"],
    "thresholds": ["--collector", "--json"],
    "run": ["--dry-run", "--json"],
    "track": ["JOB_ID"],
    "silence": ["COLLECTOR_ID", "--for", "--reason"],
    "unsilence": ["COLLECTOR_ID"],
    "history": ["--collector", "--since", "--limit", "--json"],
    "test-alert": ["--severity", "--collector-name"],
}
HOSTILE_IDS = pytest.mark.parametrize(
    "job_id",
    ["../x", "a?b=1", "j_" + "a" * 10_000, "j_x/../../admin", "j_x\r\nX-Evil: 1", ""],
    ids=["traversal", "query", "10kB", "path", "header-injection", "empty"],
)


@pytest.fixture(autouse=True)
def _bright_data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token and an API URL nobody listens on; no AWS configuration at all."""
    for name in ("TABLE_NAME", "TOPIC_ARN", "THRESHOLDS_FILE", "THRESHOLDS_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", TOKEN)
    monkeypatch.setenv("BRIGHTDATA_API_URL", CLOSED_PORT_URL)


class FakeClient:
    """Stands in for BrightDataClient: logs by job id, or the error to raise."""

    def __init__(self, logs: dict[str, Any]) -> None:
        self.logs = logs
        self.requested: list[str] = []
        self.closed = False

    def get_log(self, job_id: str) -> dict[str, Any]:
        self.requested.append(job_id)
        answer = self.logs[job_id]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    def close(self) -> None:
        self.closed = True


def log(job_id: str, status: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "Id": job_id,
        "Collector": "c_shop",
        "Status": status,
        "Inputs": 10,
        "Success": 10,
        "Fails": 0,
        "Lines": 10,
        "created": (now - timedelta(minutes=5)).isoformat(),
        "started": (now - timedelta(minutes=4)).isoformat(),
    }
    if status in ("done", "failed", "cancelled"):
        payload["finished"] = now.isoformat()
    payload.update(fields)
    return payload


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient({})
    monkeypatch.setattr(factory, "bright_data_client", lambda cfg: client)
    return client


def forbid_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_aws(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("this command must not touch AWS here")

    # cache() only so the shared fixture can still call cache_clear() on it afterwards.
    monkeypatch.setattr(factory, "aws_client", functools.cache(no_aws))
    monkeypatch.setattr(factory, "state_store", no_aws)
    monkeypatch.setattr(factory, "publisher", no_aws)


# ---- help and usage ---------------------------------------------------------------------------
@pytest.mark.parametrize(("command", "options"), sorted(COMMAND_OPTIONS.items()))
def test_cli_help_names_each_commands_options(
    command: str, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a command / When its help is asked for
    code = cli.main([command, "--help"])
    # Then it exits 0 and names every option of the command and the global ones
    out = capsys.readouterr().out
    assert code == 0
    for option in [*options, "--stack", "--region", "--verbose"]:
        assert option in out


def test_cli_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMAND_OPTIONS:
        assert command in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["no-such-command"],
        ["check"],
        ["track"],
        ["silence", "c_shop", "--reason", "maintenance"],
        ["silence", "c_shop", "--for", "2h"],
        ["silence", "c_shop", "--for", "2h", "--reason", "   "],
        ["silence", "c_shop", "--for", "31d", "--reason", "too long"],
        ["silence", "../x", "--for", "2h", "--reason", "hostile"],
        ["unsilence"],
        ["unsilence", "c_shop?x=1"],
        ["thresholds", "--collector", "shop"],
        ["history", "--limit", "0"],
        ["history", "--limit", "many"],
        ["history", "--since", "yesterday"],
        ["test-alert", "--severity", "fatal"],
        ["run", "--unknown"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # Given a malformed command line / When it runs
    code = cli.main(argv)
    # Then it is a usage error, explained on stderr
    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err
    assert captured.out == ""


def test_cli_global_options_work_before_and_after_the_command() -> None:
    parser = cli.build_parser()
    before = parser.parse_args(["--stack", "prod", "--verbose", "history"])
    after = parser.parse_args(["history", "--stack", "prod", "--verbose"])
    neither = parser.parse_args(["history"])
    assert (before.stack, before.verbose) == ("prod", True)
    assert (after.stack, after.verbose) == ("prod", True)
    assert (neither.stack, neither.verbose, neither.region) == (None, False, None)


# ---- durations --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        (" 2H ", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("30d", timedelta(days=30)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert cli.parse_duration(text, maximum=cli.MAX_SILENCE) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a duration"),
        ("2", "expected a duration"),
        ("h", "expected a duration"),
        ("2x", "expected a duration"),
        ("30m1h", "expected a duration"),
        ("-2h", "expected a duration"),
        ("1.5h", "expected a duration"),
        ("2 h", "expected a duration"),
        ("0m", "longer than zero"),
        ("0d0h", "longer than zero"),
        ("31d", "too long"),
        ("30d1m", "too long"),
        ("721h", "too long"),
        ("9" * 5000 + "d", "expected a duration"),
    ],
)
def test_parse_duration_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        cli.parse_duration(text, maximum=cli.MAX_SILENCE)
    # The message quotes a bounded preview, never a whole hostile argument.
    assert len(str(caught.value)) < 200


# ---- hostile ids ------------------------------------------------------------------------------
@HOSTILE_IDS
def test_cli_check_hostile_id_is_an_error_without_any_request(
    job_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a client that fails the test if it is even built
    def no_client(cfg: Any) -> Any:
        raise AssertionError("no request may be made for an invalid id")

    monkeypatch.setattr(factory, "bright_data_client", no_client)
    # When the hostile id is checked
    code = cli.main(["check", "--json", job_id])
    # Then it is reported per job as unreadable, with a short, clear message
    captured = capsys.readouterr()
    (report,) = json.loads(captured.out)
    assert code == 2
    assert report["verdict"] == "error"
    assert report["job_id"] == job_id
    assert "invalid job id" in report["error"]
    assert len(report["error"]) < 200


def test_cli_check_hostile_id_human_output_is_bounded_and_inert(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(factory, "bright_data_client", lambda cfg: FakeClient({}))
    code = cli.main(["check", "j_x\x1b[31m" + "a" * 10_000])
    out = capsys.readouterr().out
    assert code == 2
    assert "\x1b" not in out
    assert len(out) < 1000
    assert "ERROR" in out


@HOSTILE_IDS
def test_cli_track_hostile_id_writes_nothing(
    job_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no AWS at all
    forbid_aws(monkeypatch)
    # When a valid id and a hostile one are tracked together
    code = cli.main(["track", "j_valid1", job_id])
    # Then nothing is written for either, and the error says why
    captured = capsys.readouterr()
    assert code == 2
    assert "invalid job id" in captured.err
    assert "nothing was tracked" in captured.err
    assert len(captured.err) < 600


# ---- configuration errors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({"MAX_FAILS": "lots"}, ["check", "j_a1"], "MAX_FAILS"),
        ({"ALARM_AFTER": "3", "ALARM_WINDOW": "2"}, ["thresholds"], "ALARM_AFTER"),
        ({"BRIGHTDATA_API_TOKEN": ""}, ["check", "j_a1"], "BRIGHTDATA_API_TOKEN"),
        ({"THRESHOLDS_FILE": "/nonexistent/overrides.json"}, ["thresholds"], "THRESHOLDS_FILE"),
        ({}, ["run"], "TABLE_NAME"),
        ({}, ["track", "j_a1"], "TABLE_NAME"),
        ({}, ["silence", "c_shop", "--for", "1h", "--reason", "x"], "TABLE_NAME"),
        ({}, ["history"], "TABLE_NAME"),
        ({"TABLE_NAME": "t"}, ["test-alert"], "TOPIC_ARN"),
    ],
)
def test_cli_config_error_exits_2_with_message(
    env: dict[str, str],
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a missing or invalid setting
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # When a command needs it
    code = cli.main(argv)
    # Then one line on stderr names it, and the token is never shown
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("job-alerts: error: ")
    assert message in captured.err
    assert TOKEN not in captured.out + captured.err
    assert "Traceback" not in captured.err


def test_cli_invalid_overrides_file_is_a_config_error(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = tmp_path / "overrides.json"
    overrides.write_text('{"collectors": {"c_shop": {"min_sucess_rate": 0.5}}}')
    monkeypatch.setenv("THRESHOLDS_FILE", str(overrides))
    code = cli.main(["check", "j_a1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "THRESHOLDS_FILE" in err
    assert "min_success_rate" in err  # the did-you-mean hint


# ---- check verdicts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "verdict", "code"),
    [
        (log("j_job1", "done"), "ok", 0),
        (log("j_job1", "running", Success=3, Lines=3), "pending", 0),
        (log("j_job1", "failed", Success=0, Fails=10, Lines=0), "alert", 1),
        (log("j_job1", "done", Success=5, Fails=5, Lines=5), "alert", 1),
        (NotFound("GET /dca/log/{id}: 404 not found", status=404), "error", 2),
        (Unauthorized("GET /dca/log/{id}: 401 token rejected", status=401), "error", 2),
        ({"Status": 17}, "error", 2),
    ],
)
def test_cli_check_verdict_and_exit_code(
    answer: Any,
    verdict: str,
    code: int,
    fake_client: FakeClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a job whose log answers this way
    fake_client.logs["j_job1"] = answer
    # When it is checked
    exit_code = cli.main(["check", "--json", "j_job1"])
    # Then the verdict and exit code follow, findings only for an alert
    (report,) = json.loads(capsys.readouterr().out)
    assert exit_code == code
    assert report["verdict"] == verdict
    assert bool(report["findings"]) is (verdict == "alert")
    assert (report["error"] is not None) is (verdict == "error")
    assert set(report) == {
        "job_id",
        "collector",
        "status",
        "settled",
        "verdict",
        "findings",
        "error",
    }
    assert fake_client.closed


def test_cli_check_unreadable_wins_over_findings(
    fake_client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_client.logs.update(
        {
            "j_fail1": log("j_fail1", "failed", Success=0, Fails=10, Lines=0),
            "j_ok1": log("j_ok1", "done"),
        }
    )
    code = cli.main(["check", "--json", "j_fail1", "../x", "j_ok1", "j_fail1"])
    reports = json.loads(capsys.readouterr().out)
    assert code == 2
    # In the order asked, each id once; the invalid one was never requested.
    assert [r["job_id"] for r in reports] == ["j_fail1", "../x", "j_ok1"]
    assert [r["verdict"] for r in reports] == ["alert", "error", "ok"]
    assert sorted(fake_client.requested) == ["j_fail1", "j_ok1"]


def test_cli_check_human_output_shows_each_job(
    fake_client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_client.logs.update(
        {
            "j_fail1": log("j_fail1", "failed", Success=0, Fails=10, Lines=0),
            "j_gone1": NotFound("GET /dca/log/{id}: 404 not found", status=404),
        }
    )
    code = cli.main(["check", "j_fail1", "j_gone1"])
    out = capsys.readouterr().out
    assert code == 2
    assert "j_fail1: ALERT" in out
    assert "collector: c_shop" in out
    assert "failed (settled)" in out
    assert "[critical] job_failed: job ended with status failed" in out
    assert "j_gone1: ERROR" in out
    assert "not_found" in out
    assert "2 jobs: 1 alert, 1 error" in out


def test_cli_check_collector_thresholds_shows_sources(
    fake_client: FakeClient,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an override for the job's collector that makes a 50% job acceptable
    overrides = tmp_path / "overrides.json"
    overrides.write_text('{"collectors": {"c_shop": {"min_success_rate": 0.5, "max_fails": 5}}}')
    monkeypatch.setenv("THRESHOLDS_FILE", str(overrides))
    fake_client.logs["j_half1"] = log("j_half1", "done", Success=5, Fails=5, Lines=5)
    # When it is checked with its thresholds shown
    code = cli.main(["check", "--json", "--collector-thresholds", "j_half1"])
    # Then it is ok, judged by the collector's own limits, and says where they came from
    (report,) = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["verdict"] == "ok"
    assert report["thresholds"]["min_success_rate"] == {
        "value": 0.5,
        "source": "overrides.collectors.c_shop",
    }
    assert report["thresholds"]["min_lines"]["source"] == "default"


def test_cli_check_never_prints_the_token(
    fake_client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_client.logs["j_a1"] = Unauthorized("GET /dca/log/{id}: 401", status=401)
    cli.main(["--verbose", "check", "j_a1"])
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_cli_check_touches_no_aws(
    fake_client: FakeClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forbid_aws(monkeypatch)
    fake_client.logs["j_ok1"] = log("j_ok1", "done")
    assert cli.main(["check", "j_ok1"]) == 0


def test_cli_thresholds_default_sources_without_aws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forbid_aws(monkeypatch)
    monkeypatch.setenv("MAX_FAILS", "3")
    code = cli.main(["thresholds", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["collector"] is None
    assert data["thresholds"]["max_fails"] == {"value": 3, "source": "environment"}
    assert data["thresholds"]["min_success_rate"] == {"value": 0.9, "source": "default"}
    assert data["thresholds"]["max_fail_ratio"] == {"value": None, "source": "default"}

"""The operator CLI over real local servers: the Bright Data simulator and moto server (DynamoDB,
SNS, CloudFormation, SQS queues subscribed to the topic). Commands run in-process through
main(argv), and once as a real `python -m job_alerts` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from job_alerts import cli
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import ROOT, SIM_TOKEN, Run

pytestmark = pytest.mark.integration

COLLECTOR = "c_amazon"
OTHER = "c_other"


@pytest.fixture
def api_only(simulator: BrightDataSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what `check` needs: the simulator's URL and token; no AWS settings at all."""
    for name in ("TABLE_NAME", "TOPIC_ARN", "AWS_ENDPOINT_URL", "THRESHOLDS_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIGHTDATA_API_URL", simulator.url)
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", SIM_TOKEN)


def good_job(sim: BrightDataSimulator, job_id: str, collector: str = COLLECTOR) -> None:
    sim.add_job(job_id, collector, "done", inputs=100, success=100, fails=0, lines=100)


def failed_job(sim: BrightDataSimulator, job_id: str, collector: str = COLLECTOR) -> None:
    sim.add_job(job_id, collector, "failed", inputs=10, success=0, fails=10, lines=0)


def delivered(stack: LocalStack) -> list[dict[str, Any]]:
    return stack.drain("all")


# ---- check ------------------------------------------------------------------------------------
@pytest.mark.usefixtures("api_only")
def test_cli_check_ok_job_exits_0(simulator: BrightDataSimulator, run_cli: Run) -> None:
    # Given a healthy finished job / When it is checked
    good_job(simulator, "j_ok1")
    code, out, _ = run_cli("check", "j_ok1")
    # Then the verdict is ok, exit 0, read once
    assert code == 0
    assert "j_ok1: ok" in out
    assert "collector: c_amazon" in out
    assert "done (settled)" in out
    assert simulator.count("log", job_id="j_ok1") == 1

    code, out, _ = run_cli("check", "--json", "j_ok1")
    (report,) = json.loads(out)
    assert (code, report["verdict"], report["findings"], report["error"]) == (0, "ok", [], None)


@pytest.mark.usefixtures("api_only")
def test_cli_check_failed_job_exits_1_with_finding(
    simulator: BrightDataSimulator, run_cli: Run
) -> None:
    failed_job(simulator, "j_fail1")
    code, out, _ = run_cli("check", "--json", "j_fail1")
    (report,) = json.loads(out)
    assert code == 1
    assert report["verdict"] == "alert"
    assert report["status"] == "failed"
    assert report["settled"] is True
    assert report["collector"] == COLLECTOR
    job_failed = next(f for f in report["findings"] if f["rule"] == "job_failed")
    assert job_failed["severity"] == "critical"
    assert job_failed["message"] == "job ended with status failed"


@pytest.mark.usefixtures("api_only")
def test_cli_check_missing_job_exits_2(simulator: BrightDataSimulator, run_cli: Run) -> None:
    code, out, _ = run_cli("check", "--json", "j_missing1")
    (report,) = json.loads(out)
    assert code == 2
    assert report["verdict"] == "error"
    assert report["error"].startswith("not_found")
    assert simulator.count("log", job_id="j_missing1") == 1  # a 404 is not retried


@pytest.mark.usefixtures("api_only")
def test_cli_check_rejected_token_exits_2(
    simulator: BrightDataSimulator, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    good_job(simulator, "j_ok1")
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", "wrong-token-abcdef")
    code, out, _ = run_cli("check", "--json", "j_ok1")
    (report,) = json.loads(out)
    assert code == 2
    assert report["error"].startswith("unauthorized")
    assert "wrong-token-abcdef" not in out


@pytest.mark.usefixtures("api_only")
def test_cli_check_running_job_is_pending(simulator: BrightDataSimulator, run_cli: Run) -> None:
    simulator.add_job("j_run1", COLLECTOR, "running", inputs=100, success=10, lines=10)
    code, out, _ = run_cli("check", "--json", "j_run1")
    (report,) = json.loads(out)
    assert code == 0
    assert (report["verdict"], report["settled"], report["status"]) == ("pending", False, "running")


@pytest.mark.usefixtures("api_only")
def test_cli_check_mixed_jobs_unreadable_wins(simulator: BrightDataSimulator, run_cli: Run) -> None:
    # Given a good, a failed, a missing job and a hostile id
    good_job(simulator, "j_ok1")
    failed_job(simulator, "j_fail1")
    # When they are checked together
    code, out, _ = run_cli("check", "--json", "j_ok1", "j_fail1", "j_missing1", "../etc/passwd")
    # Then each has its verdict, in order, and exit 2 wins over 1
    reports = json.loads(out)
    assert code == 2
    assert [(r["job_id"], r["verdict"]) for r in reports] == [
        ("j_ok1", "ok"),
        ("j_fail1", "alert"),
        ("j_missing1", "error"),
        ("../etc/passwd", "error"),
    ]
    assert "invalid job id" in reports[3]["error"]
    # The hostile id never reached the API.
    assert simulator.count("log") == 3


@pytest.mark.usefixtures("api_only")
def test_cli_check_judges_by_the_collectors_own_thresholds(
    simulator: BrightDataSimulator,
    run_cli: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a 60% job, and an override letting c_amazon pass at 50% with up to 50 fails
    simulator.add_job("j_part1", COLLECTOR, "done", inputs=100, success=60, fails=40, lines=60)
    overrides = tmp_path / "overrides.json"
    overrides.write_text(
        json.dumps({"collectors": {COLLECTOR: {"min_success_rate": 0.5, "max_fails": 50}}})
    )
    code, _, _ = run_cli("check", "j_part1")
    assert code == 1  # the defaults (90%, 0 fails) flag it
    monkeypatch.setenv("THRESHOLDS_FILE", str(overrides))
    # When it is checked with the overrides / Then it is ok and the sources say why
    code, out, _ = run_cli("check", "--collector-thresholds", "j_part1")
    assert code == 0
    assert "min_success_rate   0.5      overrides.collectors.c_amazon" in out


# ---- thresholds -------------------------------------------------------------------------------
@pytest.mark.usefixtures("api_only")
def test_cli_thresholds_shows_each_source(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an environment value, a document default and a collector override
    overrides = tmp_path / "overrides.json"
    overrides.write_text(
        json.dumps(
            {
                "default": {"max_run_minutes": 120},
                "collectors": {COLLECTOR: {"min_success_rate": 0.5, "max_fail_ratio": 0.2}},
            }
        )
    )
    monkeypatch.setenv("THRESHOLDS_FILE", str(overrides))
    monkeypatch.setenv("MAX_FAILS", "5")
    # When the collector's thresholds are shown
    code, out, _ = run_cli("thresholds", "--collector", COLLECTOR, "--json")
    data = json.loads(out)
    # Then every value names the layer that set it
    assert code == 0
    assert data["collector"] == COLLECTOR
    assert data["thresholds"] == {
        "min_success_rate": {"value": 0.5, "source": f"overrides.collectors.{COLLECTOR}"},
        "max_fails": {"value": 5, "source": "environment"},
        "max_fail_ratio": {"value": 0.2, "source": f"overrides.collectors.{COLLECTOR}"},
        "max_queue_minutes": {"value": 60.0, "source": "default"},
        "max_run_minutes": {"value": 120.0, "source": "overrides.default"},
        "min_lines": {"value": 1, "source": "default"},
        "min_lines_vs_median": {"value": 0.5, "source": "default"},
        "max_silence_factor": {"value": 3.0, "source": "default"},
        "max_silence_minutes": {"value": None, "source": "default"},
        "rerun_failed_inputs": {"value": False, "source": "default"},
        "max_reruns_per_day": {"value": 3, "source": "default"},
    }
    assert data["collectors_with_overrides"] == [COLLECTOR]

    # And another collector falls back to the shared layers, in readable form too
    code, out, _ = run_cli("thresholds", "--collector", OTHER)
    assert code == 0
    assert f"Effective thresholds for collector {OTHER}" in out
    assert "min_success_rate   0.9      default" in out
    assert "max_fail_ratio     off      default" in out
    assert "max_run_minutes    120      overrides.default" in out


# ---- run --------------------------------------------------------------------------------------
def test_cli_run_json_then_nothing_new(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    # Given a failed job
    failed_job(simulator, "j_fail1")
    # When the monitor runs from the CLI
    code, out, err = run_cli("run", "--json")
    # Then stdout is exactly the summary JSON, and the alert was delivered
    first = json.loads(out)
    assert code == 0
    assert first["alerts_sent"] == 1
    assert first["findings"]["job_failed"] == 1
    assert first["health"] == "HEALTHY"
    assert "alerts_planned" not in first
    assert len(delivered(stack)) == 1

    # When it runs again, Then nothing is sent and the job is not read again
    code, out, _ = run_cli("run", "--json")
    second = json.loads(out)
    assert code == 0
    assert (second["alerts_sent"], second["alerts_suppressed"], second["alerts_failed"]) == (
        0,
        0,
        0,
    )
    assert second["jobs_read"] == 0
    assert delivered(stack) == []


def test_cli_run_human_summary(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    failed_job(simulator, "j_fail1")
    good_job(simulator, "j_ok1")
    code, out, _ = run_cli("run")
    assert code == 0
    assert "health HEALTHY" in out
    assert "2 discovered" in out
    assert "2 read" in out
    assert "job_failed 1" in out
    assert "1 sent, 0 suppressed, 0 failed" in out
    assert "API calls:" in out


def test_cli_run_dry_run_writes_and_sends_nothing(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    # Given a failed job handed to the monitor
    failed_job(simulator, "j_fail1")
    assert run_cli("track", "j_fail1")[0] == 0
    # When a dry run judges it
    code, out, _ = run_cli("run", "--dry-run")
    # Then it prints the alert it would send, subject and email text
    assert code == 0
    assert "Dry run" in out
    assert "1 would be sent (nothing written)" in out
    assert "--- would send: [CRITICAL]" in out
    assert "job ended with status failed" in out
    assert "Alert id:" in out
    # And nothing was delivered or recorded
    assert delivered(stack) == []
    code, out, _ = run_cli("history", "--json")
    assert (code, json.loads(out)) == (0, [])

    # The JSON form lists the planned documents.
    code, out, _ = run_cli("run", "--dry-run", "--json")
    summary = json.loads(out)
    assert summary["dry_run"] is True
    (planned,) = summary["alerts_planned"]
    assert "job_failed" in [entry["rule"] for entry in planned["entries"]]

    # And the real run afterwards still sends it: the dry run claimed nothing.
    code, out, _ = run_cli("run", "--json")
    assert json.loads(out)["alerts_sent"] == 1
    assert len(delivered(stack)) == 1


# ---- track ------------------------------------------------------------------------------------
def test_cli_track_makes_a_job_live(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    # Given a job of a collector the monitor does not list
    monitor_env(COLLECTORS=OTHER)
    good_job(simulator, "j_hidden1", collector=COLLECTOR)
    run_cli("run")
    assert simulator.count("log", job_id="j_hidden1") == 0
    # When it is tracked
    code, out, _ = run_cli("track", "j_hidden1")
    assert code == 0
    assert "j_hidden1: tracked" in out
    # Then the next run reads it, once
    run_cli("run")
    assert simulator.count("log", job_id="j_hidden1") == 1
    # And tracking it again says it is known
    code, out, _ = run_cli("track", "j_hidden1")
    assert (code, "j_hidden1: already known" in out) == (0, True)


def test_cli_track_invalid_id_writes_nothing(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    monitor_env(COLLECTORS=OTHER)
    good_job(simulator, "j_valid1", collector=COLLECTOR)
    code, _, err = run_cli("track", "j_valid1", "j_bad/../x")
    assert code == 2
    assert "invalid job id" in err
    run_cli("run")
    assert simulator.count("log") == 0  # j_valid1 was not tracked either


# ---- silence, unsilence, history --------------------------------------------------------------
def test_cli_silence_suppresses_then_unsilence(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
    clock: ManualClock,
) -> None:
    # Given a silenced collector
    code, out, _ = run_cli("silence", COLLECTOR, "--for", "2h", "--reason", "planned maintenance")
    assert code == 0
    assert f"{COLLECTOR} silenced for 2 h" in out
    # When one of its jobs fails and the monitor runs
    failed_job(simulator, "j_fail1")
    code, out, _ = run_cli("run", "--json")
    # Then the alert is recorded as SUPPRESSED and nothing is delivered
    assert json.loads(out)["alerts_suppressed"] == 1
    assert delivered(stack) == []
    code, out, _ = run_cli("history", "--json")
    (record,) = json.loads(out)
    assert record["status"] == "SUPPRESSED"
    assert record["collector_id"] == COLLECTOR
    assert record["suppressed_reason"] == "silenced: planned maintenance"
    code, out, _ = run_cli("history")
    assert "SUPPRESSED" in out
    assert "critical" in out
    assert "planned maintenance" in out

    # When it is unsilenced, Then the next failure is delivered
    code, out, _ = run_cli("unsilence", COLLECTOR)
    assert (code, out.strip()) == (0, f"{COLLECTOR}: silence ended")
    code, out, _ = run_cli("unsilence", COLLECTOR)
    assert out.strip() == f"{COLLECTOR}: was not silenced"
    clock.advance(5)  # the next scheduled run, 5 minutes later
    failed_job(simulator, "j_fail2")
    code, out, _ = run_cli("run", "--json")
    assert json.loads(out)["alerts_sent"] == 1
    assert len(delivered(stack)) == 1


def test_cli_history_filters_and_lists_newest_first(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    # Given alerts for two collectors
    failed_job(simulator, "j_fail1")
    run_cli("run")
    failed_job(simulator, "j_fail2", collector=OTHER)
    run_cli("run")
    # When the history is listed
    code, out, _ = run_cli("history", "--json")
    records = json.loads(out)
    # Then both are there, newest first, sent with a message id
    assert code == 0
    assert [r["collector_id"] for r in records] == [OTHER, COLLECTOR]
    assert all(r["status"] == "SENT" and r["message_id"] for r in records)
    assert records[0]["subject"].startswith("[CRITICAL]")

    _, out, _ = run_cli("history", "--collector", COLLECTOR, "--json")
    assert [r["collector_id"] for r in json.loads(out)] == [COLLECTOR]
    _, out, _ = run_cli("history", "--limit", "1", "--json")
    assert len(json.loads(out)) == 1
    _, out, _ = run_cli("history", "--since", "1h", "--json")
    assert len(json.loads(out)) == 2
    _, out, _ = run_cli("history", "--since", "2999-01-01", "--json")
    assert json.loads(out) == []
    _, out, _ = run_cli("history", "--since", "2999-01-01")
    assert out.strip() == "No alerts recorded for that selection."


# ---- test-alert -------------------------------------------------------------------------------
def test_cli_test_alert_is_delivered_and_marked(
    monitor_env: Callable[..., None], stack: LocalStack, run_cli: Run
) -> None:
    # When a test alert is sent
    code, out, _ = run_cli("test-alert", "--severity", "warning", "--collector-name", "shop")
    # Then it arrives through the topic, marked as a test in subject, body and attributes
    assert code == 0
    message_id = out.strip().splitlines()[-1].removeprefix("SNS MessageId: ")
    (envelope,) = delivered(stack)
    assert envelope["MessageId"] == message_id
    assert envelope["Subject"].startswith("[TEST]")
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes["test"] == "true"
    assert attributes["severity"] == "warning"
    assert attributes["state"] == "TEST"
    assert attributes["rule"] == "test_alert"
    document = json.loads(envelope["Message"])
    assert document["test"] is True
    assert document["collector"]["name"] == "shop"
    assert document["entries"][0]["message"] == cli.TEST_MESSAGE


# ---- --stack ----------------------------------------------------------------------------------
def test_cli_stack_option_reads_table_and_topic_from_outputs(
    monitor_env: Callable[..., None],
    stack: LocalStack,
    run_cli: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a CloudFormation stack whose outputs name the table and topic, and no env for them
    stack.client("cloudformation").create_stack(
        StackName="job-alerts-cli",
        TemplateBody=json.dumps(
            {
                "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {
                    "StateTableName": {"Value": stack.table_name},
                    "AlertTopicArn": {"Value": stack.topic_arn},
                },
            }
        ),
    )
    monkeypatch.delenv("TABLE_NAME")
    monkeypatch.delenv("TOPIC_ARN")
    assert run_cli("history")[0] == 2
    # When commands name the stack, Then they use its resources
    code, _, _ = run_cli("--stack", "job-alerts-cli", "test-alert")
    assert code == 0
    assert len(delivered(stack)) == 1
    code, out, _ = run_cli("history", "--stack", "job-alerts-cli", "--json")
    assert (code, json.loads(out)) == (0, [])
    # And an unknown stack is a configuration error
    code, _, err = run_cli("--stack", "no-such-stack", "history")
    assert code == 2
    assert err.startswith("job-alerts: error: --stack 'no-such-stack'")


# ---- a real process ---------------------------------------------------------------------------
def test_cli_module_entry_point_runs_as_a_process(simulator: BrightDataSimulator) -> None:
    # Given only the layer on the path and the simulator's settings
    failed_job(simulator, "j_fail1")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "TABLE_NAME", "TOPIC_ARN", "THRESHOLDS_"))
    }
    env.update(
        PYTHONPATH=str(ROOT / "layers" / "common"),
        BRIGHTDATA_API_URL=simulator.url,
        BRIGHTDATA_API_TOKEN=SIM_TOKEN,
    )
    # When `python -m job_alerts check --json` runs
    done = subprocess.run(
        [sys.executable, "-m", "job_alerts", "check", "--json", "j_fail1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it exits 1 with the finding, stdout is pure JSON and the token is never shown
    assert done.returncode == 1, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["verdict"] == "alert"
    assert "job_failed" in [f["rule"] for f in report["findings"]]
    assert SIM_TOKEN not in done.stdout + done.stderr


def test_cli_verbose_logs_go_to_stderr_only(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
    clock: ManualClock,
) -> None:
    # Given a run that logs at INFO
    failed_job(simulator, "j_fail1")
    # When it runs with --verbose and --json
    code, out, err = run_cli("--verbose", "run", "--json")
    # Then stdout is still exactly one JSON document; the logs went to stderr
    assert code == 0
    assert json.loads(out)["alerts_sent"] == 1
    assert "run finished" in err
    # And without --verbose the CLI is quiet (on the next scheduled run, 5 minutes later)
    clock.advance(5)
    failed_job(simulator, "j_fail2")
    code, out, err = run_cli("run", "--json")
    assert json.loads(out)["alerts_sent"] == 1
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "operation"),
    [
        (["history"], "Query failed: ResourceNotFoundException"),
        (["unsilence", COLLECTOR], "DeleteItem failed: ResourceNotFoundException"),
        (["run"], "failed: ResourceNotFoundException"),
    ],
)
def test_cli_aws_failure_is_one_line_exit_2(
    argv: list[str],
    operation: str,
    monitor_env: Callable[..., None],
    stack: LocalStack,
    run_cli: Run,
) -> None:
    # Given a table that does not exist
    monitor_env(TABLE_NAME="job-alerts-no-such-table")
    # When a command needs it / Then one line names the failing call, no traceback
    code, out, err = run_cli(*argv)
    assert code == 2
    assert err.startswith("job-alerts: error: ")
    assert operation in err
    assert "Traceback" not in err
